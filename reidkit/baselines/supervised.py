"""`--baseline supervised`: P×K training on the dataset's true training ids, the upper bound the
unsupervised methods are compared against and a source model for UDA. The single-branch E_id
(resnet50, resnet18) trains with the UDA source loss (SourcePretrain's CE with label smoothing +
batch-hard triplet on f); `--arch scr` with SCR's 13 classifiers and Eq. 3.3 (thesis ch. 3).
The schedule is SCR's for every arch: Adam (AMSGrad), lr steps, flip-only augmentation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reidkit.baselines.losses import batch_hard_triplet
from reidkit.baselines.source import SourcePretrain
from reidkit.config import check_range
from reidkit.data.augment import train_transform
from reidkit.data.samplers import identity_batches
from reidkit.errors import ConfigError
from reidkit.models.scr import NUM_GLOBAL, NUM_VECTORS, REDUCED_DIM, SCREncoder


class SCRClassifiers(nn.Module):
    """SCR's identity classifiers, one FC (with bias) per reduced vector, applied in one einsum."""

    def __init__(self, parts: int, dim: int, num_ids: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(parts, num_ids, dim).normal_(std=0.001))
        self.bias = nn.Parameter(torch.zeros(parts, num_ids))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """[B, parts, dim] → logits [parts, B, num_ids]."""
        return torch.einsum("bpd,pcd->pbc", vectors, self.weight) + self.bias.unsqueeze(1)


def scr_loss(
    logits: torch.Tensor,
    global_vectors: torch.Tensor,
    targets: torch.Tensor,
    margin: float = 1.2,
    ce_weight: float = 2.0,
) -> dict[str, torch.Tensor]:
    """Eq. 3.3: ce_weight · mean over classifiers of CE (logits [13, B, C]) + mean over the global
    vectors ([B, 3, D]) of the batch-hard triplet; "loss" is the total."""
    ce = F.cross_entropy(logits.flatten(0, 1), targets.repeat(logits.shape[0]))
    triplet = torch.stack(
        [batch_hard_triplet(g, targets, margin) for g in global_vectors.unbind(1)]
    ).mean()
    return {"ce": ce, "triplet": triplet, "loss": ce_weight * ce + triplet}


def check_supervised_config(config: Any) -> None:
    """Refuse settings the supervised trainer cannot run with, naming the option to change."""
    check_range("erasing", config.erasing, 0, 1, fix="it is a probability, e.g. 0.5")
    if config.batch_size // config.num_instances < 2:
        raise ConfigError(
            f"a batch of {config.batch_size} with {config.num_instances} images per id holds "
            "fewer than 2 identities: the triplet loss has no negatives",
            fix="raise --batch-size or lower --num-instances",
        )
    steps = list(config.lr_steps)
    if steps != sorted(steps) or any(s < 1 for s in steps) or not 0 < config.lr_gamma <= 1:
        raise ConfigError(
            f"lr_steps {steps} / lr_gamma {config.lr_gamma}: the steps must be increasing epochs "
            "≥ 1 and the factor in (0, 1]",
            fix="e.g. lr_steps = [300, 400], lr_gamma = 0.1 in the TOML file",
        )


class Supervised(SourcePretrain):
    """SourcePretrain's labels, classifier and loss on the target's own training ids, with SCR's
    schedule, and with SCR's heads and loss when E_id is an SCREncoder."""

    name = "supervised"
    check = staticmethod(check_supervised_config)
    classifier_key = "classifier"

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        check_supervised_config(config)
        self.scr = isinstance(model, SCREncoder)
        super().__init__(config, model, records, device)

    def build_classifier(self, model: Any, num_ids: int) -> nn.Module:
        if self.scr:
            return SCRClassifiers(NUM_VECTORS, REDUCED_DIM, num_ids)
        return super().build_classifier(model, num_ids)

    def build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = [*self.model.parameters(), *self.classifier.parameters()]
        optimizer = torch.optim.Adam(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay, amsgrad=cfg.amsgrad
        )
        optimizer.param_groups[0]["base_lr"] = cfg.lr
        return optimizer

    def lr_factor(self, epoch: int) -> float:
        cfg = self.config
        return cfg.lr_gamma ** sum(epoch >= s for s in cfg.lr_steps)

    def transform(self) -> Callable:
        return train_transform(tuple(self.config.size), pad=0, erasing=self.config.erasing)

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        cfg = self.config
        return identity_batches(
            self.targets, cfg.num_instances, cfg.batch_size, rng, num_batches=cfg.iters or None
        )

    def losses(self, feats: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.scr:
            return super().losses(feats, targets)
        cfg = self.config
        vectors = feats.view(len(feats), NUM_VECTORS, REDUCED_DIM)
        return scr_loss(
            self.classifier(vectors), vectors[:, :NUM_GLOBAL], targets, cfg.triplet_margin,
            cfg.ce_weight,
        )
