"""UDA source pre-training: supervised on a labelled source dataset (CE with label smoothing +
batch-hard triplet, P×K batches, Adam) before the unsupervised baseline runs on the target."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit.baselines.base import Method, adam
from reidkit.baselines.losses import batch_hard_triplet, label_smoothing_ce
from reidkit.data.augment import train_transform
from reidkit.data.samplers import identity_batches


class SourcePretrain(Method):
    """Supervised training on the source's identity labels (source data is labelled by design)."""

    name = "source"
    classifier_key = "source_classifier"  # the classifier's name among the checkpoint's models

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        pids = sorted({r.pid for r in records})
        self.pid_index = {pid: i for i, pid in enumerate(pids)}
        self.targets = np.asarray([self.pid_index[r.pid] for r in records], dtype=np.int64)
        self.classifier = self.build_classifier(model, len(pids)).to(device)
        super().__init__(config, model, records, device)

    def build_classifier(self, model: Any, num_ids: int) -> nn.Module:
        """The identity classifier: bias-free linear over `f`, N(0, 0.001) weights."""
        classifier = nn.Linear(model.embed_dim, num_ids, bias=False)
        nn.init.normal_(classifier.weight, std=0.001)
        return classifier

    def build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = list(self.model.parameters()) + list(self.classifier.parameters())
        return adam(params, cfg.source_lr, cfg.weight_decay)

    def transform(self) -> Callable:
        return train_transform(tuple(self.config.size))

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        cfg = self.config
        return identity_batches(
            self.targets,
            cfg.source_instances,
            cfg.source_batch_size,
            rng,
            num_batches=cfg.source_iters or None,
        )

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        self.eval_model().train()  # the network that trains is the one handed on
        targets = torch.as_tensor(self.targets, device=self.device)[indices]
        terms = self.batch_losses(images, targets)
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizer.step()
        return {k: v.item() for k, v in terms.items()}

    def batch_losses(self, images: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms of a batch ("loss" is what trains): `losses` on E_id's f, so that a
        network of other outputs (ABMT's two branches) overrides this one method."""
        return self.losses(self.model(images)[1], targets)

    def losses(self, feats: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """CE with label smoothing + batch-hard triplet on `f`; "loss" is their sum."""
        cfg = self.config
        loss_ce = label_smoothing_ce(self.classifier(feats), targets, cfg.label_smoothing)
        loss_tri = batch_hard_triplet(feats, targets, cfg.triplet_margin)
        return {"ce": loss_ce, "triplet": loss_tri, "loss": loss_ce + loss_tri}

    def models_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"E_id": self.eval_model().state_dict(),
                self.classifier_key: self.classifier.state_dict()}

    def load_models_state(self, models: dict[str, dict[str, torch.Tensor]]) -> None:
        self.eval_model().load_state_dict(models["E_id"])
        self.classifier.load_state_dict(models[self.classifier_key])
