"""`reidkit train-joint`: GCL's joint generative and contrastive stage, from gen-warmup.pt.

Every epoch: cluster the memory bank into pseudo identities (k-reciprocal Jaccard + DBSCAN, eps
fixed or by the rho rule; JVTC+ adds the joint visual-temporal distance), drop the outliers, then
one pass over the labelled images: GAN forward, D step, one backward of L_all, memory update.
Both learning rates ×0.1 after `lr_step` epochs (E_id's only under the reference preset, which
also starts G/D from gen-warmup's Adam moments). `train-joint.pt` is written atomically at every
epoch end (and every `checkpoint_every` iterations), and `resume` continues from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from reidkit import log
from reidkit.baselines.registry import BASELINES
from reidkit.config import check_eps_rho, config_to_dict
from reidkit.data.mesh_pairs import VIEW_VARIANTS
from reidkit.device import autocast, seed_everything
from reidkit.errors import ConfigError
from reidkit.metrics_log import MetricsLog
from reidkit.models.memory import MemoryBank
from reidkit.runs import Handoff, load_stage, require_stage, stage_path
from reidkit.train import joint_setup as setup
from reidkit.train.contrastive import VARIANTS
from reidkit.train.distributed import (
    DistContext,
    all_reduce_mean,
    barrier,
    broadcast_module,
    init_distributed,
    shutdown,
)
from reidkit.train.gan import BN_STATS, GanWeights
from reidkit.train.joint_step import LOSS_TERMS, StepSettings, contrast_step, joint_step
from reidkit.train.presets import (
    DEFAULT_PRESET,
    TRAIN_JOINT,
    check_preset,
    describe,
    refuse_other_preset,
    saved_preset,
)
from reidkit.train.rng import SeededItems, item_seed
from reidkit.train.scaffold import check_same_data, loader_workers, resume_config

# options a resumed train-joint may change (every other one must match the run being resumed)
RESUME_MAY_CHANGE = ("run", "epochs", "eval_every", "checkpoint_every", "amp", "device",
                     "workers", "resume")


@dataclass
class TrainJointConfig:
    """train-joint settings; defaults are the paper's (Sec. 4.1), see docs/joint-training.md.
    `preset` None = gen-warmup's preset (on resume: the run's); the fields marked "preset" stay
    None until the preset fills them (`setup.resolve_preset`)."""

    run: Path | None = None  # the folder holding gen-warmup.pt; required
    baseline: str | None = None  # jvtc+ forces the temporal joint distance in clustering
    epochs: int = 20
    eps: float | None = None  # fixed DBSCAN radius (ICE style) ...
    rho: float | None = None  # ... or the rho rule (default 2e-3; 1.2e-3 on MSMT17)
    k1: int = 30
    k2: int = 6
    min_samples: int = 4
    losses: tuple[str, ...] = LOSS_TERMS
    no_gan: bool = False
    augment: bool = False
    preset: str | None = None
    loss_variant: str | None = None  # preset
    view_variant: str | None = None  # preset
    gan_lr_decay: bool | None = None  # preset: G/D lr ×lr_gamma after lr_step epochs
    carry_adam: bool | None = None  # preset: G/D start from gen-warmup's Adam moments
    bn_stats: str | None = None  # preset: real = only real images update E_id's BN statistics
    tau: float = 0.04
    num_negatives: int = 8192
    momentum: float = 0.2
    lr_id: float = 3.5e-4
    gan_id_weight: float = 1.0  # share of L_gan in E_id's gradient (1 = the paper's L_all)
    lr_gan: float = 1e-4
    weight_decay: float = 5e-4
    lr_step: int = 10
    lr_gamma: float = 0.1
    batch_size: int = 16
    iters_per_epoch: int = 0  # 0 = one full pass over the labelled images
    checkpoint_every: int = 0  # also save every N iterations (mid-epoch resume); 0 = epoch ends
    eval_every: int = 0
    amp: bool = False
    resume: bool = False
    device: str = "auto"
    workers: int = -1  # loader processes; -1 = 0 on CPU, up to 8 on GPU
    seed: int = 1


def validate(config: TrainJointConfig) -> None:
    """Refuse settings that cannot run, before any work starts."""
    if config.run is None:
        raise ConfigError(
            "no run folder given", fix="pass --run RUN (the folder holding gen-warmup.pt)"
        )
    bad = sorted(set(config.losses) - set(LOSS_TERMS))
    if bad or not config.losses:
        raise ConfigError(f"unknown or empty --losses {list(config.losses)}",
                          fix=f"comma-separated subset of {','.join(LOSS_TERMS)}")
    check_preset(config.preset)
    if config.loss_variant not in (None, *VARIANTS):
        raise ConfigError(f"unknown --loss-variant {config.loss_variant}",
                          fix=f"one of {', '.join(VARIANTS)}")
    if config.view_variant not in (None, *VIEW_VARIANTS):
        raise ConfigError(f"unknown --view-variant {config.view_variant}",
                          fix=f"one of {', '.join(VIEW_VARIANTS)}")
    if config.bn_stats not in (None, *BN_STATS):
        raise ConfigError(f"unknown --bn-stats {config.bn_stats}",
                          fix=f"one of {', '.join(BN_STATS)}")
    check_eps_rho(config)
    if config.baseline is not None and config.baseline not in BASELINES:
        raise ConfigError(f"unknown --baseline {config.baseline}",
                          fix=f"one of {', '.join(BASELINES)}")
    if config.augment and not config.no_gan:
        raise ConfigError("--augment is the contrast-only ablation's option",
                          fix="add --no-gan (GCL itself trains on plain images)")
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if config.lr_id <= 0 or config.gan_id_weight < 0:
        raise ConfigError("--lr-id must be positive and --gan-id-weight at least 0",
                          fix="e.g. --lr-id 3.5e-4 --gan-id-weight 1 (the paper's)")
    if config.iters_per_epoch < 0 or config.eval_every < 0 or config.checkpoint_every < 0:
        raise ConfigError("--iters-per-epoch, --eval-every and --checkpoint-every must be >= 0")


def run_train_joint(
    config: TrainJointConfig,
    *,
    observer: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) train-joint for `config.run`; returns the per-epoch history and the path.

    `observer`, if given, is called after every iteration with the step's state (rank, epoch,
    iteration, memory bank, labels): tests use it to check that ranks stay in step.
    """
    validate(config)
    ctx = init_distributed(config.device)
    if not ctx.is_main:
        log.set_quiet(True)
    try:
        return _train(config, ctx, observer)
    finally:
        shutdown(ctx)


def _train(config: TrainJointConfig, ctx: DistContext,
           observer: Callable | None) -> dict[str, Any]:
    run = Path(config.run)
    parent = require_stage(run, "gen-warmup", "gen-warmup")
    upstream = load_stage(parent, "gen-warmup")
    out_path = stage_path(run, "train-joint")
    resumed = load_stage(out_path, "train-joint") if config.resume and out_path.is_file() else None
    if resumed is not None:
        refuse_other_preset(config.preset, saved_preset(resumed["config"]), out_path)
        config = resume_config(config, resumed["config"], RESUME_MAY_CHANGE, out_path)
    upstream_info = setup.upstream_handoff(upstream, parent)
    config = setup.resolve_preset(config, upstream_info, resumed, out_path)
    seed_everything(config.seed + ctx.rank)
    _announce_preset(config, upstream_info)
    info = setup.run_handoff(config, upstream_info)
    temporal = info.temporal
    rho = config.rho
    if rho is None and config.eps is None:
        rho = setup.default_rho(info.dataset)
    dataset = setup.load_records(info)
    records = dataset.train
    models = setup.build_models(upstream, parent, ctx)
    carried = (setup.gen_warmup_moments(upstream, parent)
               if config.carry_adam and not config.no_gan and resumed is None else None)
    optimizers, schedulers = setup.build_optimizers(models, config, ctx, carried)
    memory = MemoryBank(len(records), dim=models["E_id"].embed_dim, momentum=config.momentum)
    memory.to(ctx.device)
    sampling = torch.Generator(device=ctx.device).manual_seed(config.seed * 1000 + ctx.rank)
    start_epoch, start_batch, iteration, history = 0, 0, 0, []
    timeline = setup.train_timeline(dataset) if temporal and ctx.is_main else None
    if resumed is not None:
        check_same_data(resumed, dataset.fingerprint(), out_path)
        setup.restore(resumed, models, optimizers, schedulers, memory, sampling, ctx)
        start_epoch, iteration = resumed["epoch"], resumed["iteration"]
        start_batch = resumed["extra"]["batch"]
        history = resumed["extra"]["history"]
        labels = memory.labels.cpu().numpy()  # the interrupted epoch's, if mid-epoch
        log.info(f"resuming train-joint at epoch {start_epoch + 1}, batch {start_batch}")
    else:
        if config.resume:
            log.warn(f"--resume: no {out_path.name} in {run}, starting from gen-warmup")
        setup.init_memory(memory, models["E_id"], records, info.size, ctx)
    what = ("contrast only (L_vi^woGAN" + (", augmented)" if config.augment else ")")
            if config.no_gan else "losses " + ",".join(config.losses))
    radius = f"eps {config.eps}" if config.eps is not None else f"rho {rho}"
    log.info(f"train-joint: {len(records)} images, E_id {models['E_id'].arch} "
             f"({models['E_id'].embed_dim}-d), {what}, clustering {radius}"
             f"{' + temporal' if temporal else ''}, {ctx.world_size} process(es) on {ctx.device}")
    settings = StepSettings(
        losses=config.losses, tau=config.tau, num_negatives=config.num_negatives,
        variant=config.loss_variant, feat_variant=info.feat_variant, gan_type=info.gan_type,
        weights=GanWeights(*info.gan_weights) if info.gan_weights else GanWeights(),
        gan_id_weight=config.gan_id_weight,
        bn_stats=config.bn_stats,
        ctx=lambda: autocast(ctx.device, config.amp),
    )
    step = contrast_step if config.no_gan else joint_step
    curves = MetricsLog(run, "train-joint", epoch=start_epoch, batch=start_batch,
                        iteration=iteration, enabled=ctx.is_main)
    train_set = SeededItems(setup.train_dataset(config, info, records))
    save_args = dict(config=config, info=info, dataset=dataset, parent=parent, models=models,
                     optimizers=optimizers, schedulers=schedulers, memory=memory,
                     sampling=sampling, path=out_path, ctx=ctx)
    for epoch in range(start_epoch, config.epochs):
        if start_batch == 0:
            labels = setup.relabel(memory, config, rho, timeline, ctx)
        stats = {"clusters": int(len(np.unique(labels[labels >= 0]))),
                 "outliers": int((labels < 0).sum())}
        keep = np.flatnonzero(labels >= 0)
        batches = _epoch_batches(keep, config, ctx, epoch)
        if len(batches) == 0:
            raise ConfigError(
                f"epoch {epoch + 1}: {len(keep)} labelled images make no batch of "
                f"{config.batch_size} on {ctx.world_size} process(es)",
                fix="lower --batch-size, or cluster looser (--eps/--rho)")
        log.info(f"epoch {epoch + 1}/{config.epochs}: {stats['clusters']} clusters, "
                 f"{stats['outliers']} outliers, {len(keep)} images in training")
        for module in models.values():
            module.train()
        sums: dict[str, float] = {}
        steps, images, clock = 0, 0, time.perf_counter()
        loader = DataLoader(train_set, batch_sampler=batches[start_batch:],
                            num_workers=loader_workers(config.workers, ctx.device),
                            pin_memory=ctx.device.type == "cuda")
        with log.task(f"epoch {epoch + 1}", total=len(batches)) as progress:
            progress.advance(start_batch)
            for b, batch in enumerate(loader, start=start_batch):
                batch = tuple(t.to(ctx.device, non_blocking=True) for t in batch)
                terms = step(models, optimizers, memory, batch, sampling, settings, ctx)
                iteration += 1
                steps += 1
                curves.step(epoch + 1, b + 1, terms, iteration=iteration)
                images += len(batch[0]) * ctx.world_size
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value
                progress.advance(1, **{k: v for k, v in terms.items() if k.startswith("l_")})
                every = config.checkpoint_every
                if every and (b + 1) % every == 0 and b + 1 < len(batches):
                    setup.save(**save_args, epoch=epoch, batch=b + 1, iteration=iteration,
                               history=history)
                if observer is not None:
                    observer({"rank": ctx.rank, "epoch": epoch, "batch": b, "iteration": iteration,
                              "memory": memory.features, "labels": memory.labels})
        seconds = time.perf_counter() - clock
        for scheduler in schedulers.values():
            scheduler.step()
        for module in models.values():
            broadcast_module(module, ctx)  # BN running statistics differ per rank without SyncBN
        means = all_reduce_mean({k: v / max(steps, 1) for k, v in sums.items()}, ctx)
        gen_opt = optimizers.get("gen")
        record = {"epoch": epoch + 1, **stats, **means,
                  "lr_id": optimizers["id"].param_groups[0]["lr"],
                  "lr_gan": gen_opt.param_groups[0]["lr"] if gen_opt else None,
                  "images_per_s": images / seconds if seconds > 0 else 0.0,
                  "iterations": iteration}
        last = epoch + 1 == config.epochs
        if config.eval_every and ((epoch + 1) % config.eval_every == 0 or last):
            record.update(setup.evaluate(models["E_id"], dataset, info, ctx))
        history.append(record)
        curves.epoch(record, iteration=iteration)
        log.info(setup.describe(record))
        setup.save(**save_args, epoch=epoch + 1, batch=0, iteration=iteration, history=history)
        start_batch = 0
    curves.close()
    barrier(ctx)
    return {"checkpoint": str(out_path), "epochs": config.epochs, "history": history,
            "final": history[-1] if history else {}, "world_size": ctx.world_size,
            "loss_variant": config.loss_variant, "preset": config.preset,
            "config": config_to_dict(config)}


def _announce_preset(config: TrainJointConfig, upstream: Handoff) -> None:
    """Print the preset and what it set at the start, and warn when it is not gen-warmup's."""
    made_with = upstream.preset or DEFAULT_PRESET
    log.info(f"train-joint {describe(config, TRAIN_JOINT)}; from gen-warmup: L_feat "
             f"{upstream.feat_variant}, {upstream.gan_type} (gen-warmup preset {made_with})")
    if config.preset != made_with:
        log.warn(f"train-joint runs preset {config.preset} on a gen-warmup made with preset "
                 f"{made_with}: the two GAN stages follow different sources")


def _epoch_batches(keep: np.ndarray, config: TrainJointConfig, ctx: DistContext,
                   epoch: int) -> list[list[tuple[int, int]]]:
    """This rank's batches of (memory index, item seed) for the epoch: a DistributedSampler
    over the labelled images (seeded by epoch), cut to `iters_per_epoch`."""
    sampler = DistributedSampler(keep, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    sampler.set_epoch(epoch)
    batches = list(BatchSampler(list(sampler), config.batch_size, drop_last=True))
    if config.iters_per_epoch:
        batches = batches[: config.iters_per_epoch]
    return [[(int(keep[p]), item_seed(config.seed, epoch, int(p))) for p in batch]
            for batch in batches]
