"""`reidkit eval` as a library call: load the dataset and a checkpoint's E_id (or an exported
ONNX model), evaluate, report; optionally draw ranked lists of some queries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.markup import escape
from torch import nn

from reidkit import log
from reidkit.cluster.temporal_eval import fit_temporal_distance
from reidkit.config import config_to_dict, require
from reidkit.data.datasets import load_dataset
from reidkit.data.records import ReidDataset
from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.device import resolve_device
from reidkit.errors import ConfigError, DatasetError
from reidkit.evaluation.engine import DistanceFn, evaluate_features, visual_distance
from reidkit.evaluation.features import extract_features
from reidkit.evaluation.onnx_model import load_onnx_encoder, onnx_size
from reidkit.evaluation.rank_figures import write_rank_figures
from reidkit.models.loading import load_identity_encoder


@dataclass
class EvalConfig:
    """What `reidkit eval` needs; `size=None` takes the checkpoint's training size (or the ONNX
    model's input size); `show_ranks` > 0 draws that many ranked lists into `out_dir`."""

    dataset: str | None = None
    data_root: Path | None = None
    checkpoint: Path | None = None
    onnx: Path | None = None
    size: tuple[int, int] | None = None
    batch_size: int = 64
    flip: bool = False
    rerank: bool = False
    device: str = "auto"
    camera_regex: str | None = None
    temporal: bool = False
    show_ranks: int = 0
    show_ranks_worst: bool = False
    out_dir: Path | None = None
    seed: int = 0


def _check(config: EvalConfig) -> None:
    require(config, dataset="--dataset market", data_root="--data-root FOLDER")
    if config.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1 (got {config.batch_size})")
    if (config.checkpoint is None) == (config.onnx is None):
        given = "both --checkpoint and --onnx given" if config.onnx else "no model to evaluate"
        raise ConfigError(given, fix="pass either --checkpoint FILE or --onnx model.onnx")
    if config.show_ranks < 0:
        raise ConfigError(f"--show-ranks must be 0 or more (got {config.show_ranks})")
    if config.show_ranks_worst and not config.show_ranks:
        raise ConfigError("--show-ranks-worst orders the ranked lists of --show-ranks",
                          fix="add --show-ranks N")
    if config.show_ranks and config.out_dir is None:
        raise ConfigError("--show-ranks writes pictures and needs a folder",
                          fix="add --out-dir FOLDER")
    if config.out_dir is not None and config.out_dir.exists() and not config.out_dir.is_dir():
        raise ConfigError("--out-dir is a file, not a folder", path=config.out_dir,
                          fix="pass a folder (it is created if missing)")


def _load_model(config: EvalConfig, device: torch.device) -> tuple[
        nn.Module, dict[str, Any], tuple[int, int], torch.device]:
    """The model, its info, the input size and the torch device features are computed on."""
    if config.onnx is not None:
        model, info = load_onnx_encoder(config.onnx, device)
        log.info(escape(f"loaded ONNX model ({info['embed_dim']}-d, "
                        f"{', '.join(info['providers'])}) from {config.onnx}"))
        return model, info, onnx_size(model, config.size, DEFAULT_SIZE), torch.device("cpu")
    model, info = load_identity_encoder(config.checkpoint)
    ignored = f", {len(info['ignored'])} ignored" if info["ignored"] else ""
    log.info(escape(
        f"loaded {info['format']} checkpoint: {info['loaded']} tensors{ignored} "
        f"({info['arch']}, {info['embed_dim']}-d) from {config.checkpoint}"
    ))
    return model, info, info["handoff"].input_size(config.size), device


def _features(model: nn.Module, dataset: ReidDataset, config: EvalConfig, size: tuple[int, int],
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    if not dataset.query or not dataset.gallery:
        raise DatasetError(
            f"dataset '{dataset.name}' has no query/gallery split to evaluate",
            path=dataset.root,
            fix="evaluation needs query and gallery images (see docs/datasets.md)",
        )
    common = {"size": size, "batch_size": config.batch_size, "device": device,
              "flip": config.flip, "amp": device.type == "cuda"}
    qf = extract_features(model, dataset.query, desc="query features", **common)
    gf = extract_features(model, dataset.gallery, desc="gallery features", **common)
    return qf, gf


def _figures(config: EvalConfig, dataset: ReidDataset, qf: torch.Tensor, gf: torch.Tensor,
             distance: DistanceFn | None, device: torch.device) -> dict[str, Any]:
    """Ranked lists of `config.show_ranks` queries under the plain (not re-ranked) distance."""
    measure = distance or visual_distance
    distmat = measure(qf.to(device), gf.to(device), dataset.query, dataset.gallery)
    files = write_rank_figures(distmat, dataset.query, dataset.gallery, config.out_dir,
                               count=config.show_ranks, seed=config.seed,
                               worst=config.show_ranks_worst)
    log.info(escape(f"wrote {len(files)} ranked lists to {config.out_dir}"))
    return {"out_dir": str(config.out_dir), "worst_first": config.show_ranks_worst,
            "seed": config.seed, "files": files}


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Evaluate `config.checkpoint` (or `config.onnx`) on `config.dataset`: scores (fractions)
    and provenance."""
    _check(config)
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.data_root, camera_regex=config.camera_regex)
    model, info, size, feature_device = _load_model(config, device)
    distance, temporal = None, None
    if config.temporal:
        distance, temporal = fit_temporal_distance(
            model, dataset, size=size, device=feature_device, batch_size=config.batch_size
        )
    qf, gf = _features(model, dataset, config, size, feature_device)
    results = evaluate_features(qf, gf, dataset.query, dataset.gallery, device=feature_device,
                                rerank=config.rerank, distance=distance)
    results.update(num_query=len(dataset.query), num_gallery=len(dataset.gallery),
                   feature_dim=int(qf.shape[1]), flip=config.flip, size=list(size))
    if config.show_ranks:
        results["rank_figures"] = _figures(config, dataset, qf, gf, distance, feature_device)
    return {
        "dataset": dataset.name,
        "data_root": str(dataset.root),
        "checkpoint": str(config.checkpoint) if config.checkpoint is not None else None,
        "onnx": str(config.onnx) if config.onnx is not None else None,
        "checkpoint_format": info["format"],
        "tensors_loaded": info["loaded"],
        "arch": info["arch"],
        "device": str(feature_device),
        **({"onnx_providers": info["providers"]} if config.onnx is not None else {}),
        **results,
        "temporal": temporal,
        "fingerprint": dataset.fingerprint(),
        "config": {**config_to_dict(config), "size": list(size)},
    }
