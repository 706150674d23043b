"""ICE (Chen, Lagadec, Bremond, ICCV 2021): online + momentum encoder, cluster-proxy loss
(camera-aware or agnostic), hard instance contrast and soft instance consistency."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from reidkit import log
from reidkit.baselines.base import (
    ClusterMethod,
    adam,
    cluster,
    label_stats,
    train_features,
    trainable,
)
from reidkit.baselines.losses import (
    agnostic_proxy_loss,
    camera_sum_proxy_loss,
    cluster_proxies,
    cross_camera_proxy_loss,
    ema_update,
    hard_instance_loss,
    soft_instance_loss,
)
from reidkit.data.augment import MultiView, strong_transform
from reidkit.data.transforms import test_transform
from reidkit.errors import ConfigError


def check_ice_config(config: Any) -> None:
    """Refuse settings ICE cannot train with, notably the combination its paper shows collapsing."""
    if config.memory not in ("aware", "agnostic"):
        raise ConfigError(
            f"unknown ICE memory '{config.memory}'", fix="use --memory aware or agnostic"
        )
    for key in ("kl_direction", "cross_variant"):
        if getattr(config, key) not in ("paper", "ref"):
            raise ConfigError(f"unknown {key} '{getattr(config, key)}'", fix="use paper or ref")
    if config.memory == "agnostic" and config.soft and not config.hard:
        raise ConfigError(
            "ICE with a camera-agnostic memory and the soft instance loss but no hard instance "
            "loss collapses (ICE paper, Table 4: Market mAP 65.8 → 47.2)",
            fix="keep the hard instance loss (drop --no-hard), use --memory aware, "
            "or add --no-soft",
        )
    if not 0.0 <= config.ema < 1.0:
        raise ConfigError(f"ICE ema {config.ema} is outside [0, 1)", fix="use e.g. --ema 0.999")
    if config.batch_size // config.num_instances < 2:
        raise ConfigError(
            "ICE needs at least 2 pseudo identities per batch",
            fix="raise --batch-size or lower num_instances",
        )


def warn_short_ema(config: Any, num_records: int) -> None:
    """Warn when the run is too short for the EMA: the exported momentum encoder would still be
    mostly its starting weights (0.999 suits the paper's 16 000 iterations, not a few hundred)."""
    steps = config.epochs * (config.iters or max(num_records // config.batch_size, 1))
    share = config.ema**steps
    if share > 0.01:
        log.warn(
            f"ICE: after {steps} iterations the momentum encoder (the one evaluated and saved) "
            f"still holds {share:.0%} of its starting weights (ema {config.ema}); "
            f"for a run this short use --ema {max(0.0, 1 - 5 / steps):.3g} or train longer"
        )


class ICE(ClusterMethod):
    """ICE; the momentum encoder is the evaluated and exported model."""

    name = "ice"

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        check_ice_config(config)
        model.feat_bn.bias.requires_grad_(False)  # BN neck with frozen bias
        super().__init__(config, model, records, device)
        self.momentum = copy.deepcopy(model).requires_grad_(False)
        warn_short_ema(config, len(records))
        self.labels: np.ndarray | None = None
        self.proxies: dict[str, torch.Tensor] = {}

    def build_optimizer(self) -> torch.optim.Optimizer:
        return adam(trainable(self.model), self.config.lr, self.config.weight_decay)

    def transform(self) -> Callable:
        """Two strong views (online / momentum) and a weak one (momentum side of L_s_ins)."""
        size = tuple(self.config.size)
        strong = strong_transform(size)
        return MultiView([strong, strong, test_transform(size)])

    def lr_factor(self, epoch: int) -> float:
        """Linear warm-up from `warmup_factor` over `warmup_epochs`, then constant (no decay)."""
        warm, start = self.config.warmup_epochs, self.config.warmup_factor
        if epoch >= warm:
            return 1.0
        alpha = epoch / warm
        return start * (1 - alpha) + alpha

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        feats = train_features(self.momentum, self.records, self.config, self.device)
        self.labels = cluster(feats, self.config)
        labels = torch.as_tensor(self.labels)
        cams = torch.as_tensor(self.cams)
        self.proxies = {}
        centres = cluster_proxies(feats, labels, normalise=False)[0]
        self.proxies["agnostic"] = centres.to(self.device)
        if self.config.memory == "aware":
            proxies, p_cluster, p_cam = cluster_proxies(feats, labels, cams)
            self.proxies.update(
                aware=proxies.to(self.device),
                cluster=p_cluster.to(self.device),
                cam=p_cam.to(self.device),
            )
        return label_stats(self.labels, self.cams)

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.config
        self.model.train()
        self.momentum.train()  # its own batch statistics, as the authors' code
        raw = self.model(images[:, 0])[1]
        feats = F.normalize(raw, dim=1)
        with torch.no_grad():
            strong = F.normalize(self.momentum(images[:, 1])[1], dim=1)
            weak = F.normalize(self.momentum(images[:, 2])[1], dim=1)
        labels = torch.as_tensor(self.labels, device=self.device)[indices]
        loss = agnostic_proxy_loss(
            raw, labels, self.proxies["agnostic"], cfg.tau_agnostic, cfg.label_smoothing
        )
        terms = {"agnostic": loss.item()}
        if cfg.memory == "aware":
            loss_cross = self._cross_loss(feats, labels, indices)
            loss = loss + cfg.cross_weight * loss_cross
            terms["cross"] = loss_cross.item()
        if cfg.hard:
            loss_hard = hard_instance_loss(feats, strong, labels, cfg.tau_hard)
            loss = loss + cfg.lambda_hard * loss_hard
            terms["hard"] = loss_hard.item()
        if cfg.soft:
            loss_soft = soft_instance_loss(feats, strong, weak, cfg.tau_soft, cfg.kl_direction)
            loss = loss + cfg.lambda_soft * loss_soft
            terms["soft"] = loss_soft.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        ema_update(self.momentum, self.model, cfg.ema)
        terms["loss"] = loss.item()
        return terms

    def _cross_loss(
        self, feats: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor
    ) -> torch.Tensor:
        """L_cross against the camera-aware proxies: the code's form or the paper's eq. 7."""
        cfg, proxies = self.config, self.proxies
        cams = torch.as_tensor(self.cams, device=self.device)[indices]
        if cfg.cross_variant == "ref":
            return camera_sum_proxy_loss(
                feats, labels, cams, proxies["aware"], proxies["cluster"], cfg.tau_cross,
                cfg.num_neg,
            )
        return cross_camera_proxy_loss(
            feats, labels, cams, proxies["aware"], proxies["cluster"], proxies["cam"],
            cfg.tau_cross, cfg.num_neg,
        )

    def eval_model(self) -> Any:
        return self.momentum

    def models_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"E_id": self.momentum.state_dict(), "E_id_online": self.model.state_dict()}

    def load_models_state(self, models: dict[str, dict[str, torch.Tensor]]) -> None:
        self.momentum.load_state_dict(models["E_id"])
        self.model.load_state_dict(models["E_id_online"])
