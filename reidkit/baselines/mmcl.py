"""MMCL (Wang & Zhang, CVPR 2020): a memory of every image's feature; each image's multi-label
vector is predicted from memory similarity plus cycle consistency (MPLP) and trained with the
memory-based multi-label classification loss with hard-negative mining."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from reidkit.baselines.base import MemoryMethod
from reidkit.baselines.losses import memory_update, mmcl_loss, mplp_labels
from reidkit.data.augment import train_transform


class MMCL(MemoryMethod):
    """MMCL; single-label (instance) targets for the first `single_label_epochs` epochs."""

    name = "mmcl"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.positives = 0.0

    def transform(self) -> Callable:
        return train_transform(tuple(self.config.size))

    def memory_momentum(self, epoch: int) -> float:
        """Weight of the old memory row, growing linearly from 0 to `memory_momentum`."""
        return self.config.memory_momentum * epoch / max(self.config.epochs, 1)

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        self.fill_memory()
        return {"multi_label": epoch >= self.config.single_label_epochs}

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.config
        self.model.train()
        feats = F.normalize(self.model(images)[1], dim=1)
        logits = feats @ self.memory.t()
        if epoch >= cfg.single_label_epochs:
            positive = mplp_labels(
                self.memory, indices, cfg.threshold, cfg.min_candidates, cfg.max_candidates
            )
        else:
            positive = torch.zeros_like(logits, dtype=torch.bool)
            positive[torch.arange(len(indices), device=self.device), indices] = True
        loss = mmcl_loss(logits, positive, cfg.delta, cfg.hard_ratio)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        memory_update(self.memory, indices, feats, self.memory_momentum(epoch))
        return {"loss": loss.item(), "positives": positive.sum(1).float().mean().item()}

    def extra_state(self) -> dict[str, Any]:
        return {"memory": self.memory.cpu()} if self.memory is not None else {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "memory" in state:
            self.memory = state["memory"].to(self.device)
