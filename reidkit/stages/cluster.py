"""`reidkit cluster` as a library call: E_id features of a split → pseudo labels → CSV + stats."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reidkit import log
from reidkit.cluster.labels import cluster_jaccard, default_rho
from reidkit.cluster.rerank_cluster import rerank_cluster, rerank_temporal_labels
from reidkit.cluster.stats import cluster_stats
from reidkit.cluster.temporal import dataset_timelines, temporal_pseudo_labels
from reidkit.config import check_eps_rho, check_range, config_to_dict, require
from reidkit.data.datasets import load_dataset
from reidkit.data.records import SPLITS, ImageRecord
from reidkit.device import resolve_device
from reidkit.errors import ConfigError, DatasetError
from reidkit.evaluation.features import extract_features
from reidkit.io import save_text
from reidkit.models.loading import load_identity_encoder


@dataclass
class ClusterConfig:
    """What `reidkit cluster` needs; eps/rho both None = the dataset's default rho."""

    dataset: str | None = None
    data_root: Path | None = None
    checkpoint: Path | None = None
    split: str = "train"
    eps: float | None = None
    rho: float | None = None
    k1: int = 30
    k2: int = 6
    min_samples: int = 4
    rerank_lambda: float | None = None  # JVTC's re-ranked distance (λ·original) instead of Jaccard
    temporal: bool = False
    temporal_lambda: float = 0.5  # JVTC+ with rerank_lambda: λ of the re-ranked joint distance
    out: Path | None = Path("labels.csv")
    size: tuple[int, int] | None = None
    batch_size: int = 64
    device: str = "auto"
    camera_regex: str | None = None


def eps_rule(dataset: str, eps: float | None, rho: float | None) -> dict[str, float]:
    """{"eps": v} or {"rho": v} (eps wins; `_check` refuses both), defaults to the dataset's
    rho."""
    if eps is not None:
        if not 0 < eps:
            raise ConfigError(f"--eps must be positive (got {eps})", fix="e.g. --eps 0.55")
        return {"eps": float(eps)}
    value = rho if rho is not None else default_rho(dataset)
    if not 0 < value <= 1:
        raise ConfigError(f"--rho must be in (0, 1] (got {value})", fix="e.g. --rho 0.002")
    return {"rho": float(value)}


def distance_name(config: ClusterConfig) -> str:
    """What was clustered, for the output: the Jaccard (GCL/ICE) or JVTC's re-ranked distance."""
    if config.rerank_lambda is None:
        return "jaccard" + (" + joint (mixed 0.5)" if config.temporal else "")
    visual = f"re-ranked (λ {config.rerank_lambda})"
    if config.temporal:
        return f"{visual}, then re-ranked joint (λ {config.temporal_lambda})"
    return visual


def _check(config: ClusterConfig) -> None:
    require(config, dataset="--dataset market", data_root="--data-root FOLDER",
            checkpoint="--checkpoint runs/NAME/warmup.pt")
    check_eps_rho(config)
    if config.split not in SPLITS:
        raise ConfigError(f"unknown split '{config.split}'", fix=f"use one of {', '.join(SPLITS)}")
    for name in ("k1", "k2", "min_samples", "batch_size"):
        if getattr(config, name) < 1:
            option = "--" + name.replace("_", "-")
            raise ConfigError(f"{option} must be at least 1 (got {getattr(config, name)})")
    for name in ("rerank_lambda", "temporal_lambda"):
        value = getattr(config, name)
        if value is not None:
            option = "--" + name.replace("_", "-")
            check_range(option, value, 0, 1, fix=f"e.g. {option} 0.3")


def known_pids(records: list[ImageRecord]) -> np.ndarray | None:
    """Ground-truth ids when the names carry them (for diagnostics only), else None."""
    pids = np.array([r.pid for r in records])
    if (pids < 0).any() or len(np.unique(pids)) < 2:
        return None
    return pids


def labels_csv(records: list[ImageRecord], labels: np.ndarray) -> str:
    """`name,label` lines (label −1 = outlier), records in split order."""
    lines = ["name,label"]
    lines += [f"{r.name},{int(label)}" for r, label in zip(records, labels, strict=True)]
    return "\n".join(lines) + "\n"


def run_cluster(config: ClusterConfig) -> dict[str, Any]:
    """Cluster one split of a dataset with a checkpoint's E_id; writes the labels CSV."""
    _check(config)
    rule = eps_rule(config.dataset, config.eps, config.rho)
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.data_root, camera_regex=config.camera_regex)
    records = dataset.split(config.split)
    if len(records) < 2:
        raise DatasetError(
            f"split '{config.split}' has {len(records)} image(s); clustering needs at least 2",
            path=dataset.root,
            fix="choose another --split or check --data-root",
        )
    timeline = None
    if config.temporal:
        timeline = dataset_timelines(dataset, (config.split,))[config.split]
    model, info = load_identity_encoder(config.checkpoint)
    size = info["handoff"].input_size(config.size)
    started = time.perf_counter()
    features = extract_features(
        model, records, size=size, batch_size=config.batch_size, device=device,
        amp=device.type == "cuda", desc=f"{config.split} features",
    ).numpy()
    extracted = time.perf_counter()
    kwargs = {**rule, "k1": config.k1, "k2": config.k2, "min_samples": config.min_samples}
    if config.rerank_lambda is not None and timeline is not None:
        labels, eps, _ = rerank_temporal_labels(
            features, timeline, lambda_value=config.rerank_lambda,
            temporal_lambda=config.temporal_lambda, **kwargs)
    elif config.rerank_lambda is not None:
        found = rerank_cluster(features, lambda_value=config.rerank_lambda, **kwargs)
        labels, eps = found.labels, found.eps
    elif timeline is not None:
        labels, eps, _ = temporal_pseudo_labels(features, timeline, **kwargs)
    else:
        found = cluster_jaccard(features, **kwargs)
        labels, eps = found.labels, found.eps
    clustered = time.perf_counter()
    cams = np.asarray([r.camid for r in records])
    stats = cluster_stats(labels, known_pids(records), cams)
    log.info(f"{stats['clusters']} clusters, {stats['outliers']} outliers (eps {eps:.4f})")
    if config.out is not None:
        save_text(labels_csv(records, labels), config.out)
    return {
        "dataset": dataset.name,
        "split": config.split,
        "checkpoint": str(config.checkpoint),
        "eps": eps,
        "eps_rule": "fixed" if "eps" in rule else f"rho={rule['rho']}",
        "distance": distance_name(config),
        "temporal": config.temporal,
        **stats,
        "out": str(config.out) if config.out is not None else None,
        "seconds": {"features": extracted - started, "clustering": clustered - extracted},
        "config": {**config_to_dict(config), "size": list(size)},
    }
