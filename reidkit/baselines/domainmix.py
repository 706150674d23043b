"""DomainMix (Wang et al., BMVC 2021; WangWenhao0716/DomainMix read, not copied): learn from a
labelled synthetic set and an unlabelled real set at once, for a third dataset never seen.

The real images are clustered (Jaccard + DBSCAN) and the pseudo classes with fewer than `min_size`
or more than `max_size` images dropped (Eq. 1); synthetic ids and the kept clusters form one label
space, whose bias-free classifier starts from the normalised class means. Stage 2 trains
λ_id·CE + soft-margin triplet on P×K batches drawn from the union (Eq. 4). Stage 3, from
`adversarial_start`, alternates: a discriminator learns the domain (synthetic 0, real 1) of the
fixed backbone's feature, and the backbone learns λ_dm·L_dm + λ_id·CE + triplet against the fixed
discriminator (Eq. 11), L_dm being the domain balance (Eq. 8) or the symmetric KL to uniform
(Eq. 6); `domain_loss none` is DirectMix. The paper's stage 1 (SpCL) is not in reidkit: the
warm-up's source phase (supervised on the synthetic set) stands in for it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from reidkit.baselines.abmt import dynamic_classifier
from reidkit.baselines.abmt_losses import soft_margin_triplet
from reidkit.baselines.base import Method, cluster, label_stats, train_features, trainable
from reidkit.baselines.losses import cluster_proxies, label_smoothing_ce
from reidkit.data.augment import train_transform
from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.data.samplers import identity_batches
from reidkit.errors import ConfigError
from reidkit.models.domain_discriminator import DomainDiscriminator

DOMAIN_LOSSES = ("db", "kl", "none")
ALTERNATIONS = ("epoch", "step")
RELABELS = ("once", "epoch")


# --- losses and labels: small pure functions -------------------------------------------------
def domain_balance(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 8: mean over images of Σ_j (p_j·log p_j + 0.5); smallest when every p_j = 1/n."""
    return (probs * probs.clamp_min(1e-12).log() + 0.5).sum(1).mean()


def symmetric_kl_to_uniform(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 6: mean over images of KL(p‖h) + KL(h‖p), h uniform over the domains."""
    n = probs.shape[1]
    log_p = probs.clamp_min(1e-12).log()
    log_h = -math.log(n)
    return ((probs * (log_p - log_h)).sum(1) + ((log_h - log_p) / n).sum(1)).mean()


def refine_labels(labels: np.ndarray, min_size: int, max_size: int) -> np.ndarray:
    """Eq. 1: pseudo classes with fewer than `min_size` or more than `max_size` (0: no cap) images
    become −1; the kept ones are renumbered 0..M−1 in increasing order of their old label."""
    labels = np.asarray(labels, dtype=np.int64)
    values, counts = np.unique(labels[labels >= 0], return_counts=True)
    keep = (counts >= min_size) & ((counts <= max_size) if max_size else True)
    mapping = np.full(int(values.max()) + 1 if len(values) else 0, -1, dtype=np.int64)
    mapping[values[keep]] = np.arange(int(keep.sum()))
    out = np.full_like(labels, -1)
    inliers = labels >= 0
    out[inliers] = mapping[labels[inliers]]
    return out


def merge_labels(source_ids: np.ndarray, real_labels: np.ndarray) -> np.ndarray:
    """One label space: synthetic ids 0..S−1 first, then the real pseudo classes shifted by S;
    dropped real images stay −1."""
    shift = int(source_ids.max()) + 1 if len(source_ids) else 0
    real = np.where(real_labels >= 0, real_labels + shift, -1)
    return np.concatenate([source_ids, real]).astype(np.int64)


DOMAIN_LOSS = {"db": domain_balance, "kl": symmetric_kl_to_uniform}


def check_domainmix_config(config: Any) -> None:
    """Refuse settings DomainMix cannot train with, naming the option to change."""
    if config.source is None:
        raise ConfigError(
            "DomainMix learns from a labelled synthetic source and the unlabelled --dataset",
            fix="pass --source market --source-root DIR (e.g. the output of `reidkit synth`)",
        )
    for key, allowed in (("domain_loss", DOMAIN_LOSSES), ("alternate", ALTERNATIONS),
                         ("relabel", RELABELS)):
        if getattr(config, key) not in allowed:
            raise ConfigError(f"unknown {key} '{getattr(config, key)}'",
                              fix=f"use --{key.replace('_', '-')} {' or '.join(allowed)}")
    if config.min_size < 1 or (config.max_size and config.max_size < config.min_size):
        raise ConfigError(
            f"pseudo class sizes {config.min_size}..{config.max_size} are empty",
            fix="use --min-size ≥ 1 and --max-size ≥ --min-size (0: no cap), e.g. 5 and 120",
        )
    if config.d_every < 2 or config.d_lr_mult <= 0:
        raise ConfigError("d_every must be ≥ 2 and d_lr_mult > 0", fix="e.g. 10 and 100")
    if not 0 <= config.adversarial_start <= config.epochs:
        raise ConfigError(
            f"adversarial_start {config.adversarial_start} is outside 0..epochs ({config.epochs})",
            fix="e.g. --epochs 40 --adversarial-start 20 (stage 3 = the last 20 epochs)",
        )
    if config.num_instances < 2 or config.batch_size // config.num_instances < 2:
        raise ConfigError(
            f"a batch of {config.batch_size} with {config.num_instances} images per class has "
            "no triplets (≥ 2 classes of ≥ 2 images needed)",
            fix="use e.g. --batch-size 64 --num-instances 4",
        )


# --- the method ------------------------------------------------------------------------------
class DomainMix(Method):
    """`records` are the synthetic training images, then the real ones; E_id is handed on."""

    name = "domainmix"
    check = staticmethod(check_domainmix_config)

    def __init__(self, config: Any, model: Any, records: Any, device: torch.device, *,
                 num_source: int):
        self.num_source = num_source
        pids = sorted({r.pid for r in records[:num_source]})
        index = {pid: i for i, pid in enumerate(pids)}
        self.source_ids = np.asarray([index[r.pid] for r in records[:num_source]], np.int64)
        self.discriminator = DomainDiscriminator(model.embed_dim).to(device)
        self.classifier = dynamic_classifier(torch.empty(0, model.embed_dim)).to(device)
        self.labels: np.ndarray | None = None  # the real images' refined pseudo labels
        self.targets = torch.empty(0, dtype=torch.long)
        self.domains = torch.as_tensor(np.arange(len(records)) >= num_source).long().to(device)
        self.count = 0  # step within the epoch (alternate = step)
        super().__init__(config, model, records, device)

    @classmethod
    def for_data(cls, config: Any, model: Any, target: ReidDataset, source: ReidDataset | None,
                 device: torch.device) -> DomainMix:
        """Both training sets, the synthetic first (the engine's records)."""
        return cls(config, model, source.train + target.train, device,
                   num_source=len(source.train))

    @property
    def target_records(self) -> list[ImageRecord]:
        """The real images (after the synthetic ones), the ones the pseudo labels are of."""
        return self.records[self.num_source :]

    def build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        lr, d_lr = cfg.lr, cfg.lr * cfg.d_lr_mult
        return torch.optim.Adam(
            [{"params": trainable(self.model) + list(self.classifier.parameters()), "lr": lr,
              "base_lr": lr},
             {"params": list(self.discriminator.parameters()), "lr": d_lr, "base_lr": d_lr}],
            lr=lr, weight_decay=cfg.weight_decay,
        )

    def lr_factor(self, epoch: int) -> float:
        return 0.1 ** sum(epoch >= m for m in self.config.milestones)

    def transform(self) -> Callable:
        return train_transform(tuple(self.config.size))

    def begin_epoch(self, epoch: int) -> dict[str, Any]:
        """Label the real set (at the start, or every epoch with `relabel epoch`)."""
        if self.labels is None or self.config.relabel == "epoch":
            self.relabel()
            self.set_epoch_lr(epoch)
        stats = label_stats(self.labels, self.cams[self.num_source :])
        return {**stats, "classes": int(self.targets.max().item()) + 1,
                "stage": 3 if epoch >= self.config.adversarial_start else 2}

    def relabel(self) -> None:
        """Cluster the real features, refine, merge; classifier rows = normalised class means
        (the synthetic rows once; later relabellings reset only the real rows, as the code)."""
        cfg = self.config
        first = self.labels is None
        feats = train_features(self.model, self.records if first else self.target_records, cfg,
                               self.device)
        real = feats[-len(self.target_records) :]
        self.labels = refine_labels(cluster(real, cfg), cfg.min_size, cfg.max_size)
        if not (self.labels >= 0).any():
            raise ConfigError(
                f"no pseudo class of the real set has {cfg.min_size}..{cfg.max_size or '∞'} images",
                fix="raise --eps (or use --rho), or lower --min-size",
            )
        self.targets = torch.as_tensor(merge_labels(self.source_ids, self.labels)).to(self.device)
        if first:
            source_rows = cluster_proxies(feats[: self.num_source],
                                          torch.as_tensor(self.source_ids))[0]
        else:
            source_rows = self.classifier.weight.detach()[: int(self.source_ids.max()) + 1].cpu()
        real_rows = cluster_proxies(real, torch.as_tensor(self.labels))[0]
        self.classifier = dynamic_classifier(torch.cat([source_rows, real_rows])).to(self.device)
        self.optimizer = self.build_optimizer()

    def batches(self, epoch: int, rng: np.random.Generator) -> list[np.ndarray]:
        """P×K over the union of synthetic ids and kept real classes (no domain balancing)."""
        cfg = self.config
        self.count = 0
        return identity_batches(self.targets.cpu().numpy(), cfg.num_instances, cfg.batch_size,
                                rng, num_batches=cfg.iters or None)

    def discriminator_turn(self, epoch: int) -> bool:
        """Stage 3's schedule: Alg. 1 trains D in every second epoch (n even, 1-based); the code
        takes one D step in every `d_every`."""
        cfg = self.config
        if epoch < cfg.adversarial_start:
            return False
        if cfg.alternate == "epoch":
            return (epoch - cfg.adversarial_start) % 2 == 1
        return (self.count - 1) % cfg.d_every == 0

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> dict[str, float]:
        self.count += 1
        if self.discriminator_turn(epoch):
            return self.discriminator_step(images, indices)
        return self.backbone_step(images, indices, epoch)

    def discriminator_step(self, images: torch.Tensor, indices: torch.Tensor) -> dict[str, float]:
        """Eq. 5: domain CE of D on the fixed backbone's features."""
        self.model.eval()
        self.discriminator.train()
        with torch.no_grad():
            feats = self.model(images)[1]
        logits = self.discriminator(feats)
        domains = self.domains[indices]
        loss = F.cross_entropy(logits, domains)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        accuracy = (logits.argmax(1) == domains).float().mean()
        return {"d_loss": loss.item(), "d_acc": accuracy.item()}

    def backbone_step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int
                      ) -> dict[str, float]:
        """Eq. 4 (stage 2) or Eq. 11 against the fixed discriminator (stage 3)."""
        cfg = self.config
        adversarial = epoch >= cfg.adversarial_start
        self.model.train()
        self.discriminator.eval()
        feats = self.model(images)[1]
        targets = self.targets[indices]
        loss_id = label_smoothing_ce(self.classifier(feats), targets, cfg.label_smoothing)
        loss_tri = soft_margin_triplet(feats, targets)
        loss = (cfg.lambda_id_adv if adversarial else cfg.lambda_id) * loss_id + loss_tri
        terms = {"id": loss_id.item(), "triplet": loss_tri.item()}
        if adversarial and cfg.domain_loss != "none":
            probs = F.softmax(self.discriminator(feats), dim=1)
            loss_dm = DOMAIN_LOSS[cfg.domain_loss](probs)
            loss = loss + cfg.lambda_dm * loss_dm
            terms["dm"] = loss_dm.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for param in self.discriminator.parameters():  # D stays fixed
            param.grad = None
        self.optimizer.step()
        return {**terms, "loss": loss.item()}

    def models_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"E_id": self.model.state_dict(), "domainmix_classifier":
                self.classifier.state_dict(), "domain_discriminator":
                self.discriminator.state_dict()}

    def load_models_state(self, models: dict[str, dict[str, torch.Tensor]]) -> None:
        """Restore the models; the classifier takes the saved shape, the optimiser its layout."""
        self.model.load_state_dict(models["E_id"])
        self.discriminator.load_state_dict(models["domain_discriminator"])
        weight = models["domainmix_classifier"]["weight"]
        self.classifier = dynamic_classifier(weight).to(self.device)
        self.optimizer = self.build_optimizer()

    def extra_state(self) -> dict[str, Any]:
        return {} if self.labels is None else {"labels": torch.as_tensor(self.labels)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "labels" in state:
            self.labels = state["labels"].numpy()
            self.targets = torch.as_tensor(merge_labels(self.source_ids, self.labels)).to(
                self.device)
