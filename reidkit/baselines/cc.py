"""Cluster-Contrast (Dai et al., arXiv 2103.11568; the authors' code alibaba/cluster-contrast-reid):
every epoch the training set is clustered and each cluster becomes one centroid of a memory;
every image is contrasted against all centroids (InfoNCE, τ 0.05), and its cluster's centroid
follows the batch features with momentum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from reidkit.baselines.base import (
    ClusterMethod,
    adam,
    cluster,
    label_stats,
    train_features,
    trainable,
)
from reidkit.baselines.losses import centroid_contrast_loss, centroid_update, cluster_proxies
from reidkit.config import check_range
from reidkit.data.augment import train_transform
from reidkit.errors import ConfigError


def check_cc_config(config: Any) -> None:
    """Refuse settings the cluster memory cannot train with."""
    if config.temperature <= 0:
        raise ConfigError(
            f"Cluster-Contrast temperature {config.temperature} is not positive",
            fix="use e.g. --temperature 0.05",
        )
    check_range("centroid momentum", config.centroid_momentum, 0, 1,
                fix="use e.g. --centroid-momentum 0.1")
    if config.num_instances < 1 or config.batch_size // config.num_instances < 1:
        raise ConfigError(
            f"a batch of {config.batch_size} cannot hold {config.num_instances} images of one "
            "pseudo identity",
            fix="raise --batch-size or lower --num-instances",
        )
    if config.step_every < 1:
        raise ConfigError("step_every must be at least 1", fix="e.g. step_every = 20 (TOML)")


class ClusterContrast(ClusterMethod):
    """Cluster-Contrast; the memory is rebuilt from fresh features at every epoch, so it is not
    part of the checkpoint (a resumed run rebuilds it exactly)."""

    name = "cc"

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        check_cc_config(config)
        model.feat_bn.bias.requires_grad_(False)  # BN neck with frozen bias, as the code
        super().__init__(config, model, records, device)
        self.labels: np.ndarray | None = None
        self.targets = torch.empty(0, dtype=torch.long)
        self.centroids = torch.empty(0)

    def build_optimizer(self) -> torch.optim.Optimizer:
        return adam(trainable(self.model), self.config.lr, self.config.weight_decay)

    def transform(self) -> Callable:
        """The code's augmentation: flip, pad (10 px at 256×128) + crop, erasing p 0.5."""
        return train_transform(tuple(self.config.size))

    def lr_factor(self, epoch: int) -> float:
        return 0.1 ** (epoch // self.config.step_every)

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        """Cluster fresh features; each centroid = the normalised mean of its cluster's unit
        features (outliers belong to no centroid and are not trained on this epoch)."""
        feats = train_features(self.model, self.records, self.config, self.device)
        self.labels = cluster(feats, self.config)
        labels = torch.as_tensor(self.labels)
        self.centroids = cluster_proxies(feats, labels)[0].to(self.device)
        self.targets = labels.to(self.device)
        return label_stats(self.labels, self.cams)

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.config
        self.model.train()
        feats = F.normalize(self.model(images)[1], dim=1)
        labels = self.targets[indices]
        loss = centroid_contrast_loss(feats, labels, self.centroids, cfg.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        centroid_update(
            self.centroids, labels, feats, cfg.centroid_momentum, hard=cfg.hard_memory
        )
        return {"loss": loss.item()}
