"""What every warm-up method provides to the engine: its transform, its batches, one training step,
its learning-rate schedule, its model for evaluation and its resumable state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.errors import ConfigError
from reidkit.models.identity import IdentityEncoder

NEW_LAYERS = ("feat.", "feat_bn.")


def param_groups(model: nn.Module, lr: float, new_layer_mult: float) -> list[dict[str, Any]]:
    """Backbone at lr, the new head layers (feat, feat_bn) at new_layer_mult × lr."""
    backbone, new = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (new if name.startswith(NEW_LAYERS) else backbone).append(param)
    return [
        {"params": backbone, "lr": lr, "base_lr": lr},
        {"params": new, "lr": lr * new_layer_mult, "base_lr": lr * new_layer_mult},
    ]


def step_decay_sgd(model: nn.Module, config: Any) -> torch.optim.Optimizer:
    """JVTC/MMCL optimiser: nesterov SGD with the new head layers at a multiple of the lr."""
    return torch.optim.SGD(
        param_groups(model, config.lr, config.new_layer_mult),
        lr=config.lr,
        momentum=config.sgd_momentum,
        weight_decay=config.weight_decay,
        nesterov=True,
    )


def adam(params: list[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """ICE/Cluster-Contrast/UDA optimiser: one Adam group at lr (its schedule's base_lr)."""
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    optimizer.param_groups[0]["base_lr"] = lr
    return optimizer


def trainable(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that train (a frozen BN-neck bias is left out, as ICE's and CC's code)."""
    return [p for p in model.parameters() if p.requires_grad]


class Method(ABC):
    """A warm-up method bound to a model, the training records and a device."""

    name = "method"
    # the UDA source phase this method needs (None: supervised SourcePretrain on E_id)
    source_method: type[Method] | None = None

    def __init__(
        self, config: Any, model: IdentityEncoder, records: list[ImageRecord], device: torch.device
    ):
        self.config, self.model, self.records, self.device = config, model, records, device
        self.cams = np.asarray([r.camid for r in records], dtype=np.int64)
        self.optimizer: torch.optim.Optimizer = self.build_optimizer()

    @staticmethod
    def check(config: Any) -> None:
        """Refuse settings the method cannot train with, before any phase runs (none here)."""
        del config

    @classmethod
    def for_data(
        cls, config: Any, model: IdentityEncoder, target: ReidDataset, source: ReidDataset | None,
        device: torch.device,
    ) -> Method:
        """The method on the target's training images (a method that mixes in the source
        overrides this)."""
        return cls(config, model, target.train, device)

    @property
    def target_records(self) -> list[ImageRecord]:
        """Images of the dataset the method is evaluated on, whose diagnostics are reported."""
        return self.records

    @abstractmethod
    def build_optimizer(self) -> torch.optim.Optimizer:
        """The method's optimiser over the trainable parameters."""

    @abstractmethod
    def transform(self) -> Callable:
        """Image → tensor ([C,H,W] or [V,C,H,W]) used for training batches."""

    def lr_factor(self, epoch: int) -> float:
        """Multiplier of every group's base lr during `epoch` (0-based, within this method)."""
        return 1.0

    def set_epoch_lr(self, epoch: int) -> float:
        """Apply the schedule for `epoch`; returns the backbone lr."""
        factor = self.lr_factor(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        return self.optimizer.param_groups[0]["lr"]

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        """Per-epoch preparation (features, clustering); returns statistics to log."""
        return {}

    @abstractmethod
    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Index batches for this epoch."""

    @abstractmethod
    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        """One optimisation step; returns the loss terms."""

    def eval_model(self) -> IdentityEncoder:
        """The encoder that is evaluated and handed to the next stage."""
        return self.model

    def models_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Model state dicts for the checkpoint; "E_id" is the one the next stage loads."""
        return {"E_id": self.model.state_dict()}

    def load_models_state(self, models: dict[str, dict[str, torch.Tensor]]) -> None:
        """Restore what `models_state` returned."""
        self.model.load_state_dict(models["E_id"])

    def extra_state(self) -> dict[str, Any]:
        """Method state beyond models and optimiser (memory bank, pseudo labels)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned (nothing for stateless methods)."""
        del state


class ClusterMethod(Method):
    """A method that trains on each epoch's pseudo labels (`self.labels`, set by `begin_epoch`)
    in camera-diverse P×K batches."""

    labels: np.ndarray

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        return pseudo_identity_batches(self.name, self.labels, self.cams, self.config, rng)


class MemoryMethod(Method):
    """A method with a memory of every training image's feature (JVTC, MMCL), on random batches
    of `batch_size` images."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.memory: torch.Tensor | None = None

    def build_optimizer(self) -> torch.optim.Optimizer:
        return step_decay_sgd(self.model, self.config)

    def lr_factor(self, epoch: int) -> float:
        return 0.1 ** (epoch // self.config.step_every)

    def fill_memory(self) -> None:
        """The memory's first rows: every training image's feature, before the first step."""
        if self.memory is None:
            self.memory = train_features(self.model, self.records, self.config, self.device).to(
                self.device)

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        from reidkit.data.samplers import random_batches

        return random_batches(
            len(self.records), self.config.batch_size, rng, num_batches=self.config.iters or None
        )


def train_features(
    model: IdentityEncoder, records: list[ImageRecord], config: Any, device: torch.device
) -> torch.Tensor:
    """L2-normalised features of `records` (no augmentation), on the CPU."""
    from reidkit.evaluation.features import extract_features

    features = extract_features(
        model,
        records,
        size=tuple(config.size),
        batch_size=config.eval_batch_size,
        device=device,
        desc="features for clustering",
    )
    return features.float().cpu()


def cluster(features: torch.Tensor, config: Any) -> np.ndarray:
    """Pseudo labels by k-reciprocal Jaccard + DBSCAN (eps fixed or from the rho rule)."""
    from reidkit.cluster import pseudo_labels

    eps = config.eps
    return np.asarray(
        pseudo_labels(
            features.numpy(),
            eps=eps,
            rho=None if eps else config.rho,
            k1=config.k1,
            k2=config.k2,
            min_samples=config.min_samples,
        ),
        dtype=np.int64,
    )


def pseudo_identity_batches(
    method: str, labels: np.ndarray, cams: np.ndarray, config: Any, rng: np.random.Generator
) -> list[np.ndarray]:
    """Camera-diverse P×K batches over the pseudo labels (outliers left out), or a ConfigError
    when clustering found fewer identities than one batch needs."""
    from reidkit.data.samplers import identity_batches

    per_batch = config.batch_size // config.num_instances
    clusters = len(np.unique(labels[labels >= 0]))
    if clusters < per_batch:
        raise ConfigError(
            f"clustering found {clusters} pseudo identities, fewer than the {per_batch} "
            f"a {method} batch needs",
            fix="raise --eps, lower --batch-size, or start from ImageNet weights",
        )
    return identity_batches(
        labels,
        config.num_instances,
        config.batch_size,
        rng,
        cams=cams,
        num_batches=config.iters or None,
    )


def label_stats(labels: np.ndarray, cams: np.ndarray) -> dict[str, Any]:
    """Clusters, outliers and the one-camera share of a pseudo labelling (no ground truth)."""
    from reidkit.cluster import one_camera_share

    return {
        "clusters": int(len(np.unique(labels[labels >= 0]))),
        "outliers": int((labels < 0).sum()),
        "one_camera": round(one_camera_share(labels, cams), 3),
    }
