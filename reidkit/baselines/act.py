"""ACT, asymmetric co-teaching (Yang et al., AAAI 2020; FlyingRoastDuck/ACT_AAAI20, read, not
copied): two networks A and B start from the same source model. Every `round_epochs` epochs A's
x1 features are re-ranked and clustered (DBSCAN, eps from the rho rule in the first round, then
fixed); each outlier takes its nearest inlier's label. Even steps: A ranks a batch of inliers by
loss and B trains on the fraction r with the smallest losses ("as pure as possible"). Odd steps: B
ranks a batch of outliers and A trains on a batch of inliers plus B's kept outliers ("as diverse as
possible"). r grows each round; A is evaluated and handed on."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from reidkit.baselines.base import Method, label_stats, train_features
from reidkit.baselines.source import SourcePretrain
from reidkit.cluster.rerank_cluster import rerank_cluster
from reidkit.data.augment import train_transform
from reidkit.errors import ConfigError
from reidkit.models.act_net import ACTEncoder, set_last_stride

MODES = ("act", "ct")


# --- selection: small pure functions ---------------------------------------------------------
def keep_ratio(round_number: int, start: float = 0.2, step: float = 0.08) -> float:
    """r of round n (1-based): start + step·n, at most 1 (0.28 → 1.0 over ten rounds)."""
    return min(1.0, start + step * round_number)


def small_loss(losses: torch.Tensor, ratio: float) -> torch.Tensor:
    """Positions of the ⌊r·n⌋ smallest losses, smallest first (ties: the earlier position)."""
    keep = math.floor(ratio * len(losses) + 1e-9)
    return torch.argsort(losses, stable=True)[:keep]


def ranked_mask(inlier: torch.Tensor, even: bool, mode: str) -> torch.Tensor:
    """Which batch positions the ranking network scores: inliers, except ACT's odd steps
    (B ranks the outliers)."""
    return inlier if even or mode == "ct" else ~inlier


def trained_positions(
    inlier: torch.Tensor, ranked: torch.Tensor, losses: torch.Tensor, ratio: float, even: bool,
    mode: str,
) -> torch.Tensor:
    """Batch positions the trained network learns from: the kept ranked samples, plus every
    inlier on ACT's odd steps; `losses` are those of the ranked positions, in batch order."""
    kept = torch.nonzero(ranked).flatten()[small_loss(losses, ratio)]
    if even or mode == "ct":
        return kept
    return torch.cat([torch.nonzero(inlier).flatten(), kept])


def assign_outliers(features: torch.Tensor, labels: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Labels with each outlier (−1) given its nearest inlier's label (Euclidean distance of the
    L2-normalised features, the code's `labelNoise`); unchanged without inliers or outliers."""
    labels = np.asarray(labels)
    inliers, outliers = np.flatnonzero(labels >= 0), np.flatnonzero(labels < 0)
    if not len(inliers) or not len(outliers):
        return labels.copy()
    x = F.normalize(features.float(), dim=1)
    known = x[torch.as_tensor(inliers)]
    out = labels.copy()
    for a in range(0, len(outliers), chunk):
        rows = outliers[a : a + chunk]
        nearest = (x[torch.as_tensor(rows)] @ known.T).argmax(1).numpy()
        out[rows] = labels[inliers[nearest]]
    return out


def identity_pass(
    labels: np.ndarray, members: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """One pass of open-reid's RandomIdentitySampler over `members`: every label once in random
    order with k of its images (drawn with replacement when it has fewer)."""
    order = []
    own = labels[members]
    for label in rng.permutation(np.unique(own)):
        pool = members[own == label]
        order.append(rng.choice(pool, size=k, replace=len(pool) < k))
    return np.concatenate(order) if order else np.zeros(0, np.int64)


def triplet_per_sample(feats: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-hard triplet loss of every anchor (hardest positive vs hardest negative, Euclidean);
    an anchor without a negative scores 0."""
    dist = torch.cdist(feats, feats)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest_pos = dist.masked_fill(~same, float("-inf")).max(1).values
    hardest_neg = dist.masked_fill(same, float("inf")).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin)


def check_act_config(config: Any) -> None:
    """Refuse settings ACT cannot train with."""
    if config.co_teaching not in MODES:
        raise ConfigError(f"unknown co-teaching mode '{config.co_teaching}'",
                          fix="use act (asymmetric, default) or ct (symmetric on inliers)")
    if config.round_epochs < 1:
        raise ConfigError(f"round_epochs {config.round_epochs} is below 1",
                          fix="e.g. --round-epochs 30 (the code's epochs per iteration)")
    if config.last_stride not in (1, 2):
        raise ConfigError(f"last_stride {config.last_stride} is not 1 or 2",
                          fix="2: the paper's standard ResNet; 1: E_id's")
    if not 0 < config.keep_start <= 1 or config.keep_step < 0:
        raise ConfigError("keep ratio r = keep_start + keep_step·round needs 0 < keep_start ≤ 1 "
                          "and keep_step ≥ 0", fix="e.g. keep_start = 0.2, keep_step = 0.08 (TOML)")
    if config.num_instances < 2 or config.batch_size % config.num_instances:
        raise ConfigError(
            f"a batch of {config.batch_size} must hold whole groups of {config.num_instances} "
            "(≥ 2) images per pseudo identity",
            fix="e.g. --batch-size 64 --num-instances 4",
        )


# --- the method ------------------------------------------------------------------------------
class ACTSource(SourcePretrain):
    """UDA source phase of ACT: the supervised source model at ACT's last stride (the stride is
    no weight, so A and B take the trained weights as they are)."""

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        set_last_stride(model, config.last_stride)
        super().__init__(config, model, records, device)


class ACT(Method):
    """Networks A (`net_a`, handed on) and B (`net_b`) with one Adam over both: a step gives
    gradients to one network only, so it moves just that one (per-parameter state, as two
    optimisers)."""

    name = "act"
    source_method = ACTSource
    check = staticmethod(check_act_config)

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device):
        check_act_config(config)
        with torch.random.fork_rng(devices=[]):  # the x2 head: same start on resume
            torch.manual_seed(config.seed)
            self.net_a = ACTEncoder(model.arch, last_stride=config.last_stride)
        backbone = {k: v for k, v in model.state_dict().items() if k.startswith(("conv1", "bn1",
                                                                                   "layer"))}
        self.net_a.load_state_dict(backbone, strict=False)
        self.net_a.to(device)
        self.net_b = copy.deepcopy(self.net_a)
        super().__init__(config, model, records, device)
        self.labels: np.ndarray | None = None  # DBSCAN's (−1 = outlier)
        self.targets = torch.empty(0, dtype=torch.long)  # outliers with their inlier's label
        self.inlier = torch.empty(0, dtype=torch.bool)
        self.eps: float | None = None
        self.round = 0
        self.count = 0  # step within the epoch: even → B trains, odd → A trains

    def build_optimizer(self) -> torch.optim.Optimizer:
        lr = self.config.lr
        return torch.optim.Adam(
            [{"params": list(net.parameters()), "lr": lr, "base_lr": lr}
             for net in (self.net_a, self.net_b)],
            lr=lr,
        )

    def transform(self) -> Callable:
        """The code's augmentation: resize, flip, erasing p 0.5; no pad or crop."""
        return train_transform(tuple(self.config.size), pad=0, erasing=0.5)

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        """At each round's first epoch: cluster A's x1 features, assign the outliers."""
        cfg = self.config
        if epoch % cfg.round_epochs == 0 or self.labels is None:
            self.relabel()
            self.round = epoch // cfg.round_epochs + 1
        stats = label_stats(self.labels, self.cams)
        return {**stats, "round": self.round, "keep": self.ratio(), "eps": self.eps}

    def relabel(self) -> None:
        """Re-ranked DBSCAN (the rho rule sets eps in the first round, then it stays)."""
        cfg = self.config
        feats = train_features(self.net_a, self.records, cfg, self.device)
        eps = self.eps if self.eps is not None else cfg.eps
        result = rerank_cluster(
            feats.numpy(), eps=eps, rho=None if eps else cfg.rho, k1=cfg.k1, k2=cfg.k2,
            lambda_value=cfg.rerank_lambda, min_samples=cfg.min_samples,
        )
        self.labels, self.eps = np.asarray(result.labels, np.int64), float(result.eps)
        self.targets = torch.as_tensor(assign_outliers(feats, self.labels)).to(self.device)
        self.inlier = torch.as_tensor(self.labels >= 0).to(self.device)

    def ratio(self) -> float:
        """Keep ratio r of the current round."""
        return keep_ratio(self.round, self.config.keep_start, self.config.keep_step)

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        """P×K inlier batches (one identity pass, or `iters`); ACT's odd steps append a P×K
        batch of outliers, the first batch of a fresh pass (as the code's re-created loader)."""
        cfg = self.config
        k, size = cfg.num_instances, cfg.batch_size
        labels = self.targets.cpu().numpy()
        inliers = np.flatnonzero(self.labels >= 0)
        outliers = np.flatnonzero(self.labels < 0)
        clusters = len(np.unique(self.labels[inliers]))
        if clusters < size // k:
            raise ConfigError(
                f"clustering found {clusters} pseudo identities, fewer than the {size // k} an "
                "ACT batch needs",
                fix="lower --batch-size, or start from a better source model",
            )
        order = identity_pass(labels, inliers, k, rng)
        while len(order) < cfg.iters * size:
            order = np.concatenate([order, identity_pass(labels, inliers, k, rng)])
        count = cfg.iters or len(order) // size
        self.count = 0
        out = []
        for i in range(count):
            batch = order[i * size : (i + 1) * size]
            if i % 2 and cfg.co_teaching == "act" and len(outliers):
                batch = np.concatenate([batch, identity_pass(labels, outliers, k, rng)[:size]])
            out.append(batch)
        return out

    def losses(self, net: ACTEncoder, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-sample triplet loss on x1 plus on x2 (margin `act_margin`)."""
        x1, x2 = net.branches(images)
        margin = self.config.act_margin
        return triplet_per_sample(x1, labels, margin) + triplet_per_sample(x2, labels, margin)

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        cfg = self.config
        even = self.count % 2 == 0
        self.count += 1
        ranker, learner = (self.net_a, self.net_b) if even else (self.net_b, self.net_a)
        self.net_a.train()
        self.net_b.train()
        labels, inlier = self.targets[indices], self.inlier[indices]
        ranked = ranked_mask(inlier, even, cfg.co_teaching)
        with torch.no_grad():  # train mode, as the code's ranking forward
            scores = (self.losses(ranker, images[ranked], labels[ranked]) if ranked.sum() > 1
                      else torch.zeros(int(ranked.sum()), device=images.device))
        chosen = trained_positions(inlier, ranked, scores, self.ratio(), even, cfg.co_teaching)
        terms = {"kept": float(len(chosen))}
        if len(chosen) < 2:  # BN cannot train on one image
            return {**terms, "loss": 0.0}
        loss = self.losses(learner, images[chosen], labels[chosen]).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {**terms, "loss": loss.item()}

    def eval_model(self) -> ACTEncoder:
        """Network A (the paper deploys A)."""
        return self.net_a

    def models_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"E_id": self.net_a.state_dict(), "act_b": self.net_b.state_dict()}

    def load_models_state(self, models: dict[str, dict[str, torch.Tensor]]) -> None:
        self.net_a.load_state_dict(models["E_id"])
        self.net_b.load_state_dict(models["act_b"])

    def extra_state(self) -> dict[str, Any]:
        if self.labels is None:
            return {}
        return {"labels": torch.as_tensor(self.labels), "targets": self.targets.cpu(),
                "eps": self.eps, "round": self.round}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "labels" in state:
            self.labels = state["labels"].numpy()
            self.targets = state["targets"].to(self.device)
            self.inlier = torch.as_tensor(self.labels >= 0).to(self.device)
            self.eps, self.round = state["eps"], state["round"]
