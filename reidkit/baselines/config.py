"""Warm-up configs: the options every baseline shares, then one dataclass per baseline whose
defaults are the published hyper-parameters (see docs/warmup.md for sources and open choices)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reidkit.data.transforms import DEFAULT_SIZE


@dataclass
class WarmupConfig:
    """Options common to every warm-up baseline (values overridden per baseline below)."""

    dataset: str = "market"
    data_root: Path | None = None
    camera_regex: str | None = None
    baseline: str = "jvtc"
    out: Path | None = None
    arch: str = "resnet50"
    head: str = "gcl"  # gcl: Linear → 512 + BN (GCL's E_id); bnneck: pooled features + BN (ICE)
    pooling: str = "avg"  # global pooling of f's input: avg, or gem (learned GeM, Cluster-Contrast)
    pretrained: str = "auto"
    epochs: int = 100
    iters: int = 0  # iterations per epoch; 0 = one pass over the training set
    batch_size: int = 64
    lr: float = 0.01
    weight_decay: float = 5e-4
    eps: float | None = None
    rho: float | None = 1.6e-3
    k1: int = 30
    k2: int = 6
    min_samples: int = 4
    size: tuple[int, int] = DEFAULT_SIZE
    eval_every: int = 0  # 0 = no evaluation during training
    eval_batch_size: int = 64
    device: str = "auto"
    seed: int = 1
    workers: int = -1  # -1 = auto: none on CPU, several on GPU
    resume: bool = False
    overwrite: bool = False
    # UDA: supervised pre-training on a labelled source dataset before the baseline
    source: str | None = None
    source_root: Path | None = None
    source_epochs: int = 80
    source_iters: int = 0
    source_lr: float = 3.5e-4
    source_batch_size: int = 64
    source_instances: int = 4
    label_smoothing: float = 0.1  # of the CE losses (UDA source classifier, ICE's L_agnostic)
    triplet_margin: float = 0.3


@dataclass
class JVTCConfig(WarmupConfig):
    """JVTC (Li & Zhang, ECCV 2020): local + global consistency, re-ranked rho-rule DBSCAN
    relabelling."""

    baseline: str = "jvtc"
    epochs: int = 100
    batch_size: int = 64  # images per batch; each is augmented `views` times
    views: int = 2
    lr: float = 0.01
    new_layer_mult: float = 10.0
    sgd_momentum: float = 0.9
    step_every: int = 40
    # Relabelling as the authors' code: re_ranking(original distance, k1, k2, lambda) then the
    # rho rule and DBSCAN (reidkit.cluster.rerank_cluster).
    rho: float | None = 1.6e-3
    k1: int = 20
    k2: int = 6
    rerank_lambda: float = 0.3  # d = (1 − λ)·Jaccard + λ·normalised squared distance
    temporal_lambda: float = 0.5  # jvtc+: the same with the joint visual–temporal distance
    min_samples: int = 1
    beta_local: float = 0.1
    beta_global: float = 0.05
    global_weight: float = 0.2
    global_start: int = 10
    relabel_every: int = 5
    memory_rate: float = 0.01  # memory momentum = min(memory_rate * epoch, memory_max)
    memory_max: float = 0.8
    temporal_start: int = 30  # jvtc+ only: joint visual-temporal clustering from this epoch


@dataclass
class ICEConfig(WarmupConfig):
    """ICE (Chen et al., ICCV 2021): proxy, hard-instance and soft-instance losses with a momentum
    encoder."""

    baseline: str = "ice"
    head: str = "bnneck"
    epochs: int = 40
    iters: int = 400
    batch_size: int = 32
    num_instances: int = 4
    lr: float = 3.5e-4
    warmup_epochs: int = 10
    warmup_factor: float = 0.1  # lr factor of the first warm-up epoch (the code's 0.1)
    ema: float = 0.999
    eps: float | None = 0.55
    rho: float | None = None
    min_samples: int = 4
    memory: str = "aware"  # aware | agnostic
    hard: bool = True
    soft: bool = True
    tau_agnostic: float = 0.5
    tau_cross: float = 0.07
    num_neg: int = 50
    cross_weight: float = 0.5
    cross_variant: str = "ref"  # ref: the code's per-camera sum; paper: eq. 7
    tau_hard: float = 0.1
    lambda_hard: float = 1.0
    tau_soft: float = 0.4
    lambda_soft: float = 10.0
    kl_direction: str = "ref"  # ref: KL(Q||P) as the public code; paper: KL(P||Q)


@dataclass
class MMCLConfig(WarmupConfig):
    """MMCL (Wang & Zhang, CVPR 2020): memory-based multi-label classification."""

    baseline: str = "mmcl"
    epochs: int = 60
    batch_size: int = 128
    lr: float = 0.01
    new_layer_mult: float = 10.0
    sgd_momentum: float = 0.9
    step_every: int = 40
    rho: float | None = None
    threshold: float = 0.6
    min_candidates: int = 10
    max_candidates: int = 64
    delta: float = 5.0
    hard_ratio: float = 0.01
    single_label_epochs: int = 5
    memory_momentum: float = 0.5  # old-row weight grows linearly 0 → this over the epochs


@dataclass
class CCConfig(WarmupConfig):
    """Cluster-Contrast (Dai et al., arXiv 2103.11568): InfoNCE against a memory of cluster
    centroids updated with momentum; defaults = the authors' README commands for Market/Duke."""

    baseline: str = "cc"
    head: str = "bnneck"  # the code's features=0: pooled 2048-d + BN neck (frozen bias)
    pooling: str = "gem"  # the code's --pooling-type default
    epochs: int = 50
    iters: int = 200  # README: 200 for Market and Duke, 400 for MSMT17 (the argparse default)
    batch_size: int = 256
    num_instances: int = 16
    lr: float = 3.5e-4
    step_every: int = 20  # StepLR(step_size=20, gamma=0.1): ×0.1 at epochs 20 and 40
    temperature: float = 0.05
    centroid_momentum: float = 0.1  # README commands (argparse default 0.2); old centroid's weight
    hard_memory: bool = False  # the code's --use-hard (cm_hard): update with the hardest instance
    eps: float | None = 0.6
    rho: float | None = None
    min_samples: int = 4


@dataclass
class ABMTConfig(WarmupConfig):
    """ABMT (H. Chen thesis ch. 4, WACV 2021): asymmetric branches (GAP | extra bottleneck + GMP)
    in a mean teacher with cross-branch soft labels; defaults = thesis §4.5.2."""

    baseline: str = "abmt"
    head: str = "bnneck"  # each branch: 2048 → BN (bias frozen) → bias-free classifier
    pooling: str = "avg"  # branch a's GAP (branch m is always GMP)
    epochs: int = 40
    iters: int = 400
    batch_size: int = 64
    num_instances: int = 4
    lr: float = 3.5e-4  # constant in stage 2
    eps: float | None = None
    rho: float | None = 2e-3  # the thesis' "radius r = 0.002" is the code's rho rule
    k1: int = 20
    k2: int = 6
    min_samples: int = 4
    ema: float = 0.999
    ema_variant: str = "paper"  # paper: alpha fixed; ref: the code's min(1 − 1/(t+1), alpha)
    lambda_ce: float = 0.5
    lambda_sce: float = 0.5
    lambda_stri: float = 1.0
    # stage 1 (source): 0.5·CE + 0.5·triplet per branch, ×0.1 at epochs 40 and 70 of 80
    source_epochs: int = 80
    source_iters: int = 200
    source_lr: float = 3.5e-4
    source_batch_size: int = 64
    source_instances: int = 4
    source_milestones: tuple[int, ...] = (40, 70)
    source_warmup_epochs: int = 0  # the code's linear warm-up: 10 epochs from 0.01 × lr
    source_triplet_variant: str = "paper"  # paper: batch-hard, margin; ref: soft margin (code)


@dataclass
class ACTConfig(WarmupConfig):
    """ACT (Yang et al., AAAI 2020): asymmetric co-teaching of two networks by small-loss
    selection on re-ranked DBSCAN pseudo labels; defaults = FlyingRoastDuck/ACT_AAAI20's
    `selftrainingACT.py` (10 rounds × 30 epochs)."""

    baseline: str = "act"
    head: str = "bnneck"  # the UDA source model's head (BN neck on the pooled 2048-d feature)
    epochs: int = 300  # rounds × round_epochs
    round_epochs: int = 30  # epochs between relabellings
    batch_size: int = 64
    num_instances: int = 4
    lr: float = 6e-5  # Adam, no weight decay (the source phase keeps weight_decay)
    act_margin: float = 0.5  # batch-hard triplet margin on x1 and on x2
    rho: float | None = 1.6e-3  # eps from the rho rule in round 1, then fixed
    k1: int = 20
    k2: int = 6
    rerank_lambda: float = 0.1
    min_samples: int = 4
    keep_start: float = 0.2  # keep ratio r = keep_start + keep_step · round (1-based), ≤ 1
    keep_step: float = 0.08
    last_stride: int = 2  # 2: the paper's standard ResNet (2048×8×4 at 256×128); 1: E_id's
    co_teaching: str = "act"  # act: asymmetric (inliers + outliers); ct: symmetric, inliers only


@dataclass
class SupervisedConfig(WarmupConfig):
    """Supervised P×K training on the dataset's true training ids (the upper bound, or a source
    model for UDA); defaults = SCR's (H. Chen thesis §3.4.1, WACV 2020) for every --arch."""

    baseline: str = "supervised"
    arch: str = "scr"
    size: tuple[int, int] = (384, 192)
    epochs: int = 500
    batch_size: int = 32  # P×K = 8×4 (SCR's code: 4×4, --batch-size 16)
    num_instances: int = 4
    lr: float = 2e-4
    lr_steps: tuple[int, ...] = (300, 400)  # × lr_gamma at each: 2e-5 from 300, 2e-6 from 400
    lr_gamma: float = 0.1
    amsgrad: bool = True  # Adam with AMSGrad, wd 5e-4 (weight_decay)
    erasing: float = 0.0  # RandomErasing probability; flip only by default (SCR's code: 0.5)
    triplet_margin: float = 1.2  # batch-hard, on the 3 global 256-d vectors (scr) or on f
    ce_weight: float = 2.0  # scr: λ of Eq. 3.3, λ·mean of the 13 CE + mean of the 3 triplets
    label_smoothing: float = 0.1  # resnet50/18: the UDA source loss's CE; SCR's CE is plain


@dataclass
class DomainMixConfig(WarmupConfig):
    """DomainMix (Wang et al., BMVC 2021): a labelled synthetic source (`--source`) and pseudo
    labelled real images (`--dataset`) in one label space, 10·ID + triplet, then a domain
    discriminator and the domain-balance loss; defaults = the paper's §4.2 (code's behaviour:
    options named below)."""

    baseline: str = "domainmix"
    head: str = "bnneck"  # GAP → 2048 → BN → bias-free classifier (the paper's Fig. 5)
    epochs: int = 40  # stage 2 (adversarial_start epochs) + stage 3
    iters: int = 2000
    batch_size: int = 64  # P×K = 16×4 over the union of synthetic ids and real clusters
    num_instances: int = 4
    lr: float = 3.5e-4
    milestones: tuple[int, ...] = (10, 15)  # ×0.1 at each (code: 10, 15, 30, 40, 50 of 60)
    adversarial_start: int = 20  # first epoch of stage 3 (code: 30)
    alternate: str = "epoch"  # epoch: Alg. 1 (odd stage-3 epochs train D); step: the code's 1 + 9
    d_every: int = 10  # alternate = step: one discriminator step in every d_every steps
    d_lr_mult: float = 100.0  # discriminator lr = this × the backbone's (code: 1)
    lambda_id: float = 10.0  # λ^s1 of stage 2 (Eq. 4)
    lambda_id_adv: float = 10.0  # λ^s2 of stage 3 (Eq. 11; code: 1)
    lambda_dm: float = 1.0  # λ^m
    domain_loss: str = "db"  # db: domain balance (Eq. 8); kl: symmetric KL (Eq. 6); none: DirectMix
    label_smoothing: float = 0.0  # the paper's plain CE (code: 0.1)
    relabel: str = "once"  # once: label the real set at the start (Alg. 1); epoch: the code's
    min_size: int = 5  # pseudo classes with fewer images are dropped (b_l, Eq. 1)
    max_size: int = 120  # ... or with more (b_h; 0 = no cap, the code's)
    eps: float | None = 0.6  # SpCL's DBSCAN settings, the code's per-epoch relabelling
    rho: float | None = None
    k1: int = 30
    k2: int = 6
    min_samples: int = 4
    # stage-1 stand-in (SpCL is not in reidkit): supervised training on the synthetic set alone
    source_epochs: int = 20
    source_iters: int = 800
