"""ABMT, asymmetric branched mean teaching (H. Chen thesis ch. 4, WACV 2021).

Stage 1 (UDA only, `ABMTSource`): the two-branch network learns the labelled source with
0.5·(CE_a + CE_m) + 0.5·(Tri_a + Tri_m). Stage 2 (`ABMT`): every epoch the teacher (EMA of the
student) features are clustered (Jaccard + DBSCAN, rho rule, outliers dropped), each branch gets a
new classifier initialised from its normalised cluster means, and the student learns
λ_ce·hard CE + λ_sce·cross-branch soft CE + λ_stri·cross-branch soft triplet from the teacher.
The teacher is evaluated and handed on.

Both stages train the engine's E_id in place: `TwoBranchEncoder(base=model)` grows the m branch
onto it, so the phases, the checkpoints and a resumed run all hold one set of weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit.baselines.abmt_losses import (
    EMA_VARIANTS,
    ema_alpha,
    soft_cross_entropy,
    soft_margin_triplet,
    soft_triplet,
)
from reidkit.baselines.base import (
    Method,
    adam,
    cluster,
    label_stats,
    pseudo_identity_batches,
    train_features,
    trainable,
)
from reidkit.baselines.losses import (
    batch_hard_triplet,
    cluster_proxies,
    ema_update,
    label_smoothing_ce,
)
from reidkit.baselines.source import SourcePretrain
from reidkit.data.augment import train_transform
from reidkit.errors import ConfigError
from reidkit.models.two_branch import TwoBranchEncoder

SOURCE_CE_WEIGHT = SOURCE_TRI_WEIGHT = 0.5  # λ_ce^s, λ_tri^s (thesis §4.5.2)
WARMUP_START = 0.01  # lr factor of the code's first warm-up epoch


def check_abmt_config(config: Any) -> None:
    """Refuse settings the two-branch network or the mean teacher cannot train with."""
    if config.head != "bnneck" or config.pooling != "avg":
        raise ConfigError(
            f"ABMT builds its own heads (given --head {config.head}, --pooling {config.pooling})",
            fix="drop --head and --pooling (ABMT: BN necks, GAP on branch a, GMP on branch m)",
        )
    if not 0.0 <= config.ema < 1.0:
        raise ConfigError(f"ABMT ema {config.ema} is outside [0, 1)", fix="use e.g. --ema 0.999")
    for key in ("ema_variant", "source_triplet_variant"):
        if getattr(config, key) not in EMA_VARIANTS:
            raise ConfigError(
                f"unknown {key} '{getattr(config, key)}'",
                fix=f"use --{key.replace('_', '-')} paper or ref",
            )
    if min(config.lambda_ce, config.lambda_sce, config.lambda_stri) < 0:
        raise ConfigError("ABMT loss weights must be ≥ 0", fix="e.g. --lambda-stri 1")
    if config.num_instances < 2 or config.batch_size // config.num_instances < 2:
        raise ConfigError(
            f"a batch of {config.batch_size} with {config.num_instances} images per pseudo "
            "identity has no triplets (ABMT needs ≥ 2 identities and ≥ 2 images of each)",
            fix="use e.g. --batch-size 64 --num-instances 4",
        )


def dynamic_classifier(weights: torch.Tensor) -> nn.Linear:
    """A bias-free classifier whose rows are `weights` (one per cluster)."""
    classifier = nn.Linear(1, 1, bias=False)
    classifier.out_features, classifier.in_features = weights.shape
    classifier.weight = nn.Parameter(weights.detach().clone())
    return classifier


def branch_classifiers(feats: torch.Tensor, labels: torch.Tensor, channels: int) -> nn.ModuleDict:
    """ABMT's dynamic classifiers: for branch a (first `channels` columns of the feature) and m
    (the rest), the L2-normalised mean of each cluster (outliers ignored)."""
    halves = feats.split(channels, dim=1)
    return nn.ModuleDict(
        {
            b: dynamic_classifier(cluster_proxies(h, labels)[0])
            for b, h in zip("am", halves, strict=True)
        }
    )


class ABMTSource(SourcePretrain):
    """Stage 1: SourcePretrain's source labels and P×K batches for the two-branch network, with
    one classifier per branch and the thesis' loss and schedule."""

    name = "abmt-source"
    classifier_key = "source_classifiers"

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        check_abmt_config(config)
        # branch m is grown before the classifiers are drawn (the RNG order of every ABMT run)
        self.net = TwoBranchEncoder(model.arch, base=model).to(device)
        super().__init__(config, model, records, device)

    def build_classifier(self, model: Any, num_ids: int) -> nn.Module:
        """One bias-free linear classifier per branch (a, m) over its BN-neck feature, N(0,
        0.001) weights."""
        classifiers = nn.ModuleDict(
            {b: nn.Linear(model.channels, num_ids, bias=False) for b in "am"}
        )
        for classifier in classifiers.values():
            nn.init.normal_(classifier.weight, std=0.001)
        return classifiers

    def build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = trainable(self.net) + list(self.classifier.parameters())
        return adam(params, cfg.source_lr, cfg.weight_decay)

    def lr_factor(self, epoch: int) -> float:
        """×0.1 at each milestone; with warm-up epochs, linear from 0.01 first (the code's)."""
        cfg = self.config
        factor = 0.1 ** sum(epoch >= m for m in cfg.source_milestones)
        if epoch < cfg.source_warmup_epochs:
            share = epoch / cfg.source_warmup_epochs
            factor *= WARMUP_START * (1 - share) + share
        return factor

    def batch_losses(self, images: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """0.5·(CE_a + CE_m) on the BN-neck features + 0.5·(Tri_a + Tri_m) on the pooled ones."""
        cfg = self.config
        _, pooled_a, pooled_m, bn_a, bn_m = self.net.branches(images)
        loss_ce = sum(
            label_smoothing_ce(self.classifier[b](f), targets, cfg.label_smoothing)
            for b, f in (("a", bn_a), ("m", bn_m))
        )
        if cfg.source_triplet_variant == "ref":
            loss_tri = soft_margin_triplet(pooled_a, targets) + soft_margin_triplet(
                pooled_m, targets
            )
        else:
            loss_tri = batch_hard_triplet(pooled_a, targets, cfg.triplet_margin) + (
                batch_hard_triplet(pooled_m, targets, cfg.triplet_margin)
            )
        loss = SOURCE_CE_WEIGHT * loss_ce + SOURCE_TRI_WEIGHT * loss_tri
        return {"ce": loss_ce, "triplet": loss_tri, "loss": loss}

    def eval_model(self) -> Any:
        return self.net


class ABMT(Method):
    """Stage 2: asymmetric branched mean teaching on the unlabelled target."""

    name = "abmt"
    check = staticmethod(check_abmt_config)
    source_method = ABMTSource

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        check_abmt_config(config)
        self.student = TwoBranchEncoder(model.arch, base=model).to(device)
        # the teacher starts as the student at the first epoch (after a resume has loaded it)
        self.teacher: TwoBranchEncoder | None = None
        # rebuilt every epoch; the empty ones give the optimizer the checkpoint's layout
        self.classifiers = branch_classifiers(
            torch.empty(0, 2 * model.channels), torch.empty(0, dtype=torch.long), model.channels
        )
        self.teacher_classifiers = copy.deepcopy(self.classifiers)
        self.updates = 0
        self.labels: np.ndarray | None = None
        self.targets = torch.empty(0, dtype=torch.long)
        super().__init__(config, model, records, device)

    def build_optimizer(self) -> torch.optim.Optimizer:
        params = trainable(self.student) + list(self.classifiers.parameters())
        return adam(params, self.config.lr, self.config.weight_decay)

    def transform(self) -> Callable:
        """Flip, pad + crop and random erasing (p 0.5); student and teacher see the same image."""
        return train_transform(tuple(self.config.size))

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        """Cluster the teacher's a|m features; new classifiers (student and teacher alike) from
        each branch's normalised cluster means; a new Adam."""
        if self.teacher is None:
            self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        feats = train_features(self.teacher, self.records, self.config, self.device)
        self.labels = cluster(feats, self.config)
        labels = torch.as_tensor(self.labels)
        self.targets = labels.to(self.device)
        self.classifiers = branch_classifiers(feats, labels, self.student.channels).to(self.device)
        self.teacher_classifiers = copy.deepcopy(self.classifiers).requires_grad_(False)
        self.optimizer = self.build_optimizer()
        self.set_epoch_lr(epoch)
        return label_stats(self.labels, self.cams)

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        return pseudo_identity_batches("ABMT", self.labels, self.cams, self.config, rng)

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.config
        self.student.train()
        self.teacher.train()  # its own batch statistics, as the mean-teacher code
        labels = self.targets[indices]
        _, pooled_a, pooled_m, bn_a, bn_m = self.student.branches(images)
        logits_a, logits_m = self.classifiers["a"](bn_a), self.classifiers["m"](bn_m)
        with torch.no_grad():
            _, ref_a, ref_m, ref_bn_a, ref_bn_m = self.teacher.branches(images)
            ref_logits_a = self.teacher_classifiers["a"](ref_bn_a)
            ref_logits_m = self.teacher_classifiers["m"](ref_bn_m)
        loss_ce = label_smoothing_ce(logits_a, labels, cfg.label_smoothing) + label_smoothing_ce(
            logits_m, labels, cfg.label_smoothing
        )
        loss_sce = soft_cross_entropy(logits_m, ref_logits_a) + soft_cross_entropy(
            logits_a, ref_logits_m
        )
        loss_stri = soft_triplet(pooled_m, ref_a, labels) + soft_triplet(pooled_a, ref_m, labels)
        loss = cfg.lambda_ce * loss_ce + cfg.lambda_sce * loss_sce + cfg.lambda_stri * loss_stri
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        alpha = ema_alpha(self.updates, cfg.ema, cfg.ema_variant)
        self.updates += 1
        ema_update(self.teacher, self.student, alpha)
        ema_update(self.teacher_classifiers, self.classifiers, alpha)
        return {
            "ce": loss_ce.item(),
            "sce": loss_sce.item(),
            "stri": loss_stri.item(),
            "loss": loss.item(),
        }

    def eval_model(self) -> Any:
        return self.student if self.teacher is None else self.teacher

    def models_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"E_id": self.eval_model().state_dict(), "E_id_student": self.student.state_dict()}

    def load_models_state(self, models: dict[str, dict[str, torch.Tensor]]) -> None:
        self.student.load_state_dict(models["E_id_student"])
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        self.teacher.load_state_dict(models["E_id"])

    def extra_state(self) -> dict[str, Any]:
        return {"updates": self.updates}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))
