"""`reidkit warmup`: `run_warmup(config)` trains E_id with a baseline (optionally after supervised
source pre-training), checkpoints every epoch to `<out>/warmup.pt` and resumes exactly.

Exact resumption: every epoch reseeds Python/NumPy/torch from (seed, epoch) and draws its batches
from a NumPy generator seeded the same way, so an epoch depends only on the checkpointed state.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
import torch
from rich.markup import escape
from torch.utils.data import DataLoader

from reidkit import log
from reidkit.baselines.base import Method
from reidkit.baselines.config import WarmupConfig
from reidkit.baselines.registry import BASELINES, get_baseline
from reidkit.baselines.source import SourcePretrain
from reidkit.config import config_to_dict, resolve_config
from reidkit.data.image_dataset import ImageDataset
from reidkit.data.records import ReidDataset
from reidkit.device import resolve_device, seed_everything
from reidkit.errors import ConfigError
from reidkit.metrics_log import MetricsLog
from reidkit.models.identity import HEADS, IdentityEncoder, load_imagenet
from reidkit.models.pooling import POOLINGS
from reidkit.models.scr import SCR_ARCHS, SCREncoder
from reidkit.runs import Handoff, load_stage, save_stage, stage_path
from reidkit.train.scaffold import check_same_data, loader_workers, resume_config, states_to

# one-camera share of the pseudo labels above which the warm-up warns (see _warn_camera_clusters)
CAMERA_BIAS_WARNING = 0.9

# options that may change when resuming (everything else must match the run being resumed)
RESUME_KEYS = (
    "out",  # a run folder may be moved or copied and resumed there
    "epochs",
    "eval_every",
    "eval_batch_size",
    "device",
    "workers",
    "resume",
    "overwrite",
)


def _baseline_name(toml_file: str | Path | None, overrides: dict[str, Any]) -> str:
    if overrides.get("baseline"):
        return str(overrides["baseline"])
    if toml_file is not None and Path(toml_file).is_file():
        try:
            return str(
                tomllib.loads(Path(toml_file).read_text(encoding="utf-8")).get("baseline", "jvtc")
            )
        except tomllib.TOMLDecodeError:
            return "jvtc"  # resolve_config reports the bad file
    return "jvtc"


def warmup_config(toml_file: str | Path | None = None, **overrides: Any) -> WarmupConfig:
    """Resolve a warm-up config: the baseline's defaults → TOML → options; on `resume` the stored
    config of the run folder, with only RESUME_KEYS allowed to change."""
    out = overrides.get("out")
    path = stage_path(out, "warmup") if out is not None else None
    stored = None
    if overrides.get("resume") and path is not None and path.is_file():
        stored = load_stage(path, expect="warmup")["config"]
    name = stored.get("baseline", "jvtc") if stored else _baseline_name(toml_file, overrides)
    cls = get_baseline(name)[1]
    foreign = sorted(k for k, v in overrides.items() if v is not None and k not in _fields(cls))
    if foreign:
        owners = {k: [b for b, (_, c) in BASELINES.items() if k in _fields(c)] for k in foreign}
        where = "; ".join(f"{k}: {', '.join(b) or 'none'}" for k, b in owners.items())
        raise ConfigError(
            f"option(s) {', '.join(foreign)} do not apply to baseline '{name}'",
            fix=f"drop them or choose a baseline they belong to ({where})",
        )
    if stored is not None:
        given = {k for k, v in overrides.items() if v is not None}
        return resume_config(resolve_config(cls, None, **overrides), stored, RESUME_KEYS, path,
                             given=given,
                             fix="drop the option to resume as it was, or use --overwrite to "
                             "start over")
    config = resolve_config(cls, toml_file, **overrides)
    if overrides.get("eps") is not None and overrides.get("rho") is None:
        config = dataclasses.replace(config, rho=None)
    if overrides.get("rho") is not None and overrides.get("eps") is None:
        config = dataclasses.replace(config, eps=None)
    return config


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check(config: WarmupConfig) -> None:
    if config.data_root is None:
        raise ConfigError("no dataset given", fix="pass --data-root (and --dataset)")
    if config.out is None:
        raise ConfigError("no run folder given", fix="pass --out runs/NAME")
    if config.arch not in ("resnet50", "resnet18", *SCR_ARCHS):
        raise ConfigError(f"unknown arch '{config.arch}'", fix="use resnet50, resnet18 or scr")
    if config.arch in SCR_ARCHS and (config.baseline != "supervised" or config.source):
        raise ConfigError(
            f"--arch {config.arch} trains only with --baseline supervised, without a UDA source",
            fix="use --baseline supervised (no --source), or --arch resnet50",
        )
    if config.head not in HEADS:
        raise ConfigError(f"unknown head '{config.head}'", fix=f"use {' or '.join(HEADS)}")
    if config.pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling '{config.pooling}'", fix="use avg or gem")
    if config.epochs < 1 or config.batch_size < 2 or config.iters < 0:
        raise ConfigError("epochs must be ≥ 1, batch size ≥ 2 and iters ≥ 0")
    if (config.source is None) != (config.source_root is None):
        raise ConfigError("UDA needs both --source and --source-root")
    get_baseline(config.baseline)[0].check(config)


def _prepare_run(config: WarmupConfig) -> dict[str, Any] | None:
    """Refuse to overwrite a run by accident; return the checkpoint to resume from, if any."""
    path = stage_path(config.out, "warmup")
    if not path.is_file():
        if config.resume:
            log.warn(f"nothing to resume in {config.out}: starting a new warm-up")
        return None
    if config.resume:
        return load_stage(path, expect="warmup")
    if config.overwrite:
        log.warn(f"--overwrite: replacing the warm-up checkpoint {path}")
        return None
    raise ConfigError(
        "the run folder already has a warm-up checkpoint",
        path=path,
        fix="pass --resume to continue it, --overwrite to start over, or another --out",
    )


def _phases(config: WarmupConfig) -> list[tuple[str, int]]:
    phases = [("source", config.source_epochs)] if config.source else []
    return phases + [(config.baseline, config.epochs)]


def _phase_at(phases: list[tuple[str, int]], epoch: int) -> tuple[str, int, int]:
    """(phase name, epoch within the phase, phase length) of a global epoch."""
    start = 0
    for name, length in phases:
        if epoch < start + length:
            return name, epoch - start, length
        start += length
    raise ValueError(epoch)


def _load_data(config: WarmupConfig) -> tuple[ReidDataset, ReidDataset | None]:
    from reidkit.data.datasets import load_dataset

    target = load_dataset(config.dataset, config.data_root, camera_regex=config.camera_regex)
    if not target.train:
        raise ConfigError("the dataset has no training images", path=config.data_root)
    source = load_dataset(config.source, config.source_root) if config.source else None
    return target, source


def _build_method(
    phase: str,
    config: WarmupConfig,
    model: IdentityEncoder,
    target: ReidDataset,
    source: ReidDataset | None,
    device: torch.device,
) -> Method:
    method = get_baseline(config.baseline)[0]
    if phase == "source":
        return (method.source_method or SourcePretrain)(config, model, source.train, device)
    return method.for_data(config, model, target, source, device)


def _diagnostics(method: Method) -> dict[str, Any]:
    """Cluster quality against the true training ids: diagnostics only, never used in training."""
    labels = getattr(method, "labels", None)
    if labels is None or isinstance(method, SourcePretrain):
        return {}
    from reidkit.cluster import cluster_stats

    pids = np.asarray([r.pid for r in method.target_records])
    return {"diagnostic_true_pids": cluster_stats(labels, true_pids=pids)}


def _warn_camera_clusters(stats: dict[str, Any]) -> bool:
    """Warn (returns True) when nearly every pseudo label is a one-camera cluster."""
    share = stats.get("one_camera", 0.0)
    if share < CAMERA_BIAS_WARNING:
        return False
    log.warn(
        f"{share:.0%} of the clustered images are in clusters seen by one camera only: the "
        "pseudo labels follow cameras, not people, and training on them pulls different people "
        "together; cluster-based methods (ice, jvtc's global term) need better first features: "
        "start from ImageNet weights (--pretrained PATH)."
    )
    return True


def _train_epoch(
    method: Method,
    records: list,
    config: WarmupConfig,
    epoch: int,
    local: int,
    desc: str,
    device: torch.device,
    curves: MetricsLog,
) -> dict[str, float]:
    rng = np.random.default_rng([config.seed, epoch])
    batches = method.batches(local, rng)
    loader = DataLoader(
        ImageDataset(records, method.transform()),
        batch_sampler=[b.tolist() for b in batches],
        num_workers=loader_workers(config.workers, device),
        pin_memory=device.type == "cuda",
    )
    sums: dict[str, float] = {}
    with log.task(desc, total=len(batches)) as progress:
        for count, (images, indices) in enumerate(loader, start=1):
            terms = method.step(images.to(device, non_blocking=True), indices.to(device), local)
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            progress.advance(1, **{k: v / count for k, v in sums.items()})
            curves.step(epoch + 1, count, terms, images=len(images))
    return {k: v / max(len(batches), 1) for k, v in sums.items()}


def _evaluate(
    method: Method, dataset: ReidDataset, config: WarmupConfig, device: torch.device
) -> dict[str, Any]:
    from reidkit.evaluation.engine import evaluate_model

    model = method.eval_model()
    was_training = model.training
    result = evaluate_model(
        model, dataset, size=tuple(config.size), device=device, batch_size=config.eval_batch_size
    )
    model.train(was_training)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str))}


def handoff(config: WarmupConfig, model: IdentityEncoder) -> Handoff:
    """What the warm-up tells gen-warmup, eval and cluster: the target data, E_id's shape, size."""
    return Handoff().given(
        dataset=config.dataset, data_root=config.data_root, camera_regex=config.camera_regex,
        size=tuple(config.size), arch=model.arch, embed_dim=model.embed_dim,
        pooling=getattr(model, "pooling", None), baseline=config.baseline,
        temporal=config.baseline == "jvtc+")


def initial_encoder(config: WarmupConfig) -> IdentityEncoder:
    """E_id as the warm-up starts it, before ImageNet weights: the seed fixes the head (and the
    backbone with --pretrained none), so the untrained baseline of a report is this model."""
    seed_everything(config.seed)
    if config.arch in SCR_ARCHS:
        return SCREncoder(config.arch)
    return IdentityEncoder(config.arch, embed_dim=HEADS[config.head], pooling=config.pooling)


def run_warmup(config: WarmupConfig) -> dict[str, Any]:
    """Train E_id with `config.baseline`; returns the checkpoint path, final metrics, history."""
    _check(config)
    device = resolve_device(config.device)
    resume_state = _prepare_run(config)
    log.info(f"warm-up ({config.baseline}) config:")
    for key, value in config_to_dict(config).items():
        log.info(escape(f"  {key} = {value}"))
    target, source = _load_data(config)
    fingerprint = target.fingerprint()
    if resume_state is not None:
        check_same_data(resume_state, fingerprint, stage_path(config.out, "warmup"))
    model = initial_encoder(config).to(device)
    pretrained = (
        resume_state["extra"].get("pretrained", "")
        if resume_state is not None
        else load_imagenet(model, config.pretrained)
    )
    model.to(device)
    phases = _phases(config)
    total = sum(length for _, length in phases)
    start = resume_state["epoch"] if resume_state is not None else 0
    history: list[dict[str, Any]] = (
        list(resume_state["extra"].get("history", [])) if resume_state else []
    )
    if resume_state is not None:
        log.info(f"resuming after epoch {start} of {total}")
    method: Method | None = None
    phase_name = None
    camera_warned = False
    metrics: dict[str, Any] = history[-1] if history else {}
    path = stage_path(config.out, "warmup")
    curves = MetricsLog(config.out, "warmup", epoch=start)
    for epoch in range(start, total):
        name, local, length = _phase_at(phases, epoch)
        if name != phase_name:
            method = _build_method(name, config, model, target, source, device)
            if resume_state is not None and epoch == start:
                if resume_state["extra"].get("phase") == name:
                    method.load_models_state(states_to(resume_state["models"], device))
                    method.optimizer.load_state_dict(resume_state["optimizers"]["E_id"])
                    method.load_extra_state(resume_state["extra"].get("state", {}))
                else:
                    model.load_state_dict(resume_state["models"]["E_id"])
            phase_name = name
        seed_everything(config.seed * 100_003 + epoch)
        began = time.monotonic()
        lr = method.set_epoch_lr(local)
        stats = method.begin_epoch(local)
        camera_warned = camera_warned or _warn_camera_clusters(stats)
        records = method.records
        terms = _train_epoch(
            method, records, config, epoch, local, f"{name} epoch {local + 1}/{length}", device,
            curves,
        )
        metrics = {
            "epoch": epoch + 1,
            "phase": name,
            "lr": lr,
            **terms,
            **{k: v for k, v in stats.items() if isinstance(v, (int, float, bool))},
            "seconds": round(time.monotonic() - began, 2),
        }
        metrics.update(_diagnostics(method))
        last = epoch + 1 == total
        if config.eval_every and ((epoch + 1) % config.eval_every == 0 or last):
            metrics["test"] = _evaluate(method, target, config, device)
        history.append(metrics)
        curves.epoch(metrics)
        log.info(escape(_summary_line(metrics, total)))
        save_stage(
            path,
            stage="warmup",
            models=states_to(method.models_state(), "cpu"),
            optimizers={"E_id": method.optimizer.state_dict()},
            config=config_to_dict(config),
            epoch=epoch + 1,
            dataset=fingerprint,
            metrics=metrics,
            handoff=handoff(config, method.eval_model()),
            extra={
                "phase": name,
                "state": method.extra_state(),
                "history": history,
                "pretrained": pretrained,
                "finished": last,
            },
        )
    curves.close()
    return {
        "checkpoint": str(path),
        "baseline": config.baseline,
        "epochs": total,
        "metrics": metrics,
        "history": history,
    }


def _summary_line(metrics: dict[str, Any], total: int) -> str:
    skip = {"epoch", "phase", "test", "diagnostic_true_pids"}
    fields = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if k not in skip
    )
    line = f"({metrics['phase']}) epoch {metrics['epoch']}/{total}: {fields}"
    if "test" in metrics:
        test = metrics["test"]
        nan = float("nan")
        line += f" | test mAP={test.get('mAP', nan):.4f} rank1={test.get('rank1', nan):.4f}"
    return line
