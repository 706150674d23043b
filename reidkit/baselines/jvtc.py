"""JVTC (Li & Zhang, ECCV 2020): local consistency between augmented views of each image and global
consistency against a memory bank with multi-label targets from clustering; `jvtc+` clusters on
the joint visual–temporal distance from `temporal_start` on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from reidkit.baselines.base import MemoryMethod, label_stats
from reidkit.baselines.losses import local_consistency_loss, memory_multilabel_loss, memory_update
from reidkit.data.augment import MultiView, train_transform


class JVTC(MemoryMethod):
    """JVTC without temporal information."""

    name = "jvtc"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.labels: np.ndarray | None = None

    def transform(self) -> Callable:
        return MultiView(train_transform(tuple(self.config.size)), views=self.config.views)

    def memory_momentum(self, epoch: int) -> float:
        """Weight of the old memory row: min(rate·epoch, max)."""
        return min(self.config.memory_rate * epoch, self.config.memory_max)

    def relabel_due(self, epoch: int) -> bool:
        """Cluster at the first global epoch and every `relabel_every` epochs after it."""
        cfg = self.config
        if epoch < cfg.global_start:
            return False
        return self.labels is None or (epoch - cfg.global_start) % cfg.relabel_every == 0

    def relabel(self, epoch: int) -> tuple[np.ndarray, bool]:
        """Pseudo labels from the memory bank by the authors' rule (re-ranked squared distance,
        k1 20, λ 0.3, rho rule, DBSCAN min_samples 1); returns (labels, temporal used)."""
        from reidkit.cluster.rerank_cluster import rerank_cluster

        result = rerank_cluster(self.memory.cpu().numpy(), **self.rule())
        return result.labels, False

    def rule(self) -> dict[str, Any]:
        """The authors' relabelling settings: radius (eps, or the rho rule), k1, k2, λ, DBSCAN's
        min_samples."""
        cfg = self.config
        return dict(eps=cfg.eps, rho=None if cfg.eps else cfg.rho, k1=cfg.k1, k2=cfg.k2,
                    lambda_value=cfg.rerank_lambda, min_samples=cfg.min_samples)

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        stats: dict[str, Any] = {}
        self.fill_memory()
        if self.relabel_due(epoch):
            self.labels, stats["temporal"] = self.relabel(epoch)
        if self.labels is not None:
            stats.update(label_stats(self.labels, self.cams))
        return stats

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.config
        self.model.train()
        b, v = images.shape[:2]
        feats = F.normalize(self.model(images.flatten(0, 1))[1], dim=1).view(b, v, -1)
        loss_local = local_consistency_loss(feats, cfg.beta_local)
        mean = F.normalize(feats.mean(1), dim=1)
        terms = {"local": loss_local.item()}
        loss = loss_local
        if epoch >= cfg.global_start and self.labels is not None:
            memory_labels = torch.as_tensor(self.labels, device=self.device)
            loss_global = memory_multilabel_loss(  # per view, its image's targets replicated
                feats.flatten(0, 1), indices.repeat_interleave(v), self.memory, memory_labels,
                cfg.beta_global,
            )
            loss = loss + cfg.global_weight * loss_global
            terms["global"] = loss_global.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        memory_update(self.memory, indices, mean, self.memory_momentum(epoch))
        terms["loss"] = loss.item()
        return terms

    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.memory is not None:
            state["memory"] = self.memory.cpu()
        if self.labels is not None:
            state["labels"] = torch.as_tensor(self.labels)
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "memory" in state:
            self.memory = state["memory"].to(self.device)
        if "labels" in state:
            self.labels = state["labels"].numpy()


class JVTCPlus(JVTC):
    """JVTC+: from `temporal_start` on, relabelling fits the temporal model on visual clusters and
    clusters again on the re-ranked joint visual–temporal distance."""

    name = "jvtc+"

    def relabel(self, epoch: int) -> tuple[np.ndarray, bool]:
        """From `temporal_start` on: visual clusters fit the temporal model, then the joint
        distance is re-ranked (λ = temporal_lambda) and clustered, as `reset_label_based_joint_smi`
        of the authors' code."""
        if epoch < self.config.temporal_start:
            return super().relabel(epoch)
        from reidkit.cluster.rerank_cluster import rerank_temporal_labels
        from reidkit.cluster.temporal import build_timeline, market_offsets, timeline_kind

        cfg = self.config
        kind = timeline_kind(cfg.dataset)
        timeline = build_timeline(
            self.records, kind, market_offsets(self.records) if kind == "sequence" else None
        )
        labels, _, _ = rerank_temporal_labels(self.memory.cpu().numpy(), timeline,
                                              temporal_lambda=cfg.temporal_lambda, **self.rule())
        return np.asarray(labels, dtype=np.int64), True
