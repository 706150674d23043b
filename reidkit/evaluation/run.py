"""`reidkit eval` as a library call: load the dataset and a checkpoint's E_id, evaluate, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from reidkit import log
from reidkit.cluster.temporal_eval import fit_temporal_distance
from reidkit.config import config_to_dict
from reidkit.data.datasets import load_dataset
from reidkit.device import resolve_device
from reidkit.errors import ConfigError
from reidkit.evaluation.engine import evaluate_model
from reidkit.models.loading import load_identity_encoder

DEFAULT_SIZE = (256, 128)


@dataclass
class EvalConfig:
    """What `reidkit eval` needs; `size=None` takes the checkpoint's training size."""

    dataset: str = "market"
    data_root: Path = Path(".")
    checkpoint: Path = Path("model.pt")
    size: tuple[int, int] | None = None
    batch_size: int = 64
    flip: bool = False
    rerank: bool = False
    device: str = "auto"
    camera_regex: str | None = None
    temporal: bool = False


def checkpoint_size(info: dict[str, Any]) -> tuple[int, int] | None:
    """The input size (h, w) a reidkit stage checkpoint was trained at, if it records one."""
    stage = info.get("stage")
    size = (stage or {}).get("config", {}).get("size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return int(size[0]), int(size[1])
    return None


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Evaluate `config.checkpoint` on `config.dataset`: scores (fractions) and provenance."""
    if config.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1 (got {config.batch_size})")
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.data_root, camera_regex=config.camera_regex)
    model, info = load_identity_encoder(config.checkpoint)
    ignored = f", {len(info['ignored'])} ignored" if info["ignored"] else ""
    log.info(escape(
        f"loaded {info['format']} checkpoint: {info['loaded']} tensors{ignored} "
        f"({info['arch']}, {info['embed_dim']}-d) from {config.checkpoint}"
    ))
    size = config.size or checkpoint_size(info) or DEFAULT_SIZE
    distance, temporal = None, None
    if config.temporal:
        distance, temporal = fit_temporal_distance(
            model, dataset, size=size, device=device, batch_size=config.batch_size
        )
    results = evaluate_model(
        model, dataset, size=size, device=device, batch_size=config.batch_size,
        flip=config.flip, rerank=config.rerank, distance=distance,
    )
    return {
        "dataset": dataset.name,
        "data_root": str(dataset.root),
        "checkpoint": str(config.checkpoint),
        "checkpoint_format": info["format"],
        "tensors_loaded": info["loaded"],
        "arch": info["arch"],
        "device": str(device),
        **results,
        "temporal": temporal,
        "fingerprint": dataset.fingerprint(),
        "config": {**config_to_dict(config), "size": list(size)},
    }
