"""Run folders and stage checkpoints: the one hand-off between commands.

A stage checkpoint is a single `torch.save` file holding only tensors and plain Python values
(so it loads with `weights_only=True`): format tag and version, stage name, model and optimiser
state dicts, epoch/iteration, the resolved config, the dataset fingerprint, metrics, and the path
and SHA-256 of its parent checkpoint. A run folder keeps one file per stage (`warmup.pt`,
`gen-warmup.pt`, `train-joint.pt`) and a `manifest.json` listing the stages done.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from reidkit import __version__
from reidkit.errors import CheckpointError
from reidkit.io import save_json, save_torch

FORMAT = "reidkit-stage"
FORMAT_VERSION = 1
STAGES = ("warmup", "gen-warmup", "train-joint", "import")


def stage_path(run_dir: str | Path, stage: str) -> Path:
    """Where a run folder keeps the checkpoint of `stage`."""
    return Path(run_dir) / f"{stage}.pt"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in blocks (checkpoints can be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_stage(
    path: str | Path,
    *,
    stage: str,
    models: dict[str, dict[str, torch.Tensor]],
    config: dict[str, Any],
    epoch: int,
    iteration: int = 0,
    optimizers: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    parent: str | Path | None = None,
    parent_sha256: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a stage checkpoint atomically and record it in the run folder's manifest."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage}")
    if parent is not None and parent_sha256 is None:
        parent_sha256 = file_sha256(parent)
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "reidkit_version": __version__,
        "stage": stage,
        "models": models,
        "optimizers": optimizers or {},
        "epoch": int(epoch),
        "iteration": int(iteration),
        "config": config,
        "dataset": dataset or {},
        "metrics": metrics or {},
        "parent": str(parent) if parent is not None else None,
        "parent_sha256": parent_sha256,
        "extra": extra or {},
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    save_torch(state, path)
    update_manifest(Path(path).parent, stage, Path(path), epoch=epoch, metrics=metrics or {})


def is_stage_checkpoint(obj: Any) -> bool:
    """True for a dict written by `save_stage`."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load_checkpoint_file(path: str | Path) -> Any:
    """torch.load with weights_only=True and a clear error for missing or unsafe files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", path=path, fix="check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / pickled-code files
        raise CheckpointError(
            f"cannot read checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            path=path,
            fix="pass a reidkit stage checkpoint or a plain state_dict saved with torch.save",
        ) from exc


def load_stage(path: str | Path, expect: str | tuple[str, ...] | None = None) -> dict[str, Any]:
    """Load a stage checkpoint, checking its format and (optionally) its stage name."""
    state = load_checkpoint_file(path)
    if not is_stage_checkpoint(state):
        raise CheckpointError(
            "not a reidkit stage checkpoint", path=path, fix="pass a file written by reidkit"
        )
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format {state['format_version']} is newer than this reidkit understands",
            path=path,
            fix="upgrade reidkit",
        )
    wanted = (expect,) if isinstance(expect, str) else expect
    if wanted and state["stage"] not in wanted:
        raise CheckpointError(
            f"checkpoint is from stage '{state['stage']}', expected {' or '.join(wanted)}",
            path=path,
        )
    return state


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The run folder's manifest (empty if none yet)."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return {"stages": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def update_manifest(
    run_dir: str | Path, stage: str, checkpoint: Path, *, epoch: int, metrics: dict[str, Any]
) -> None:
    """Record (or refresh) a stage's entry in `manifest.json`."""
    manifest = read_manifest(run_dir)
    manifest.setdefault("stages", {})[stage] = {
        "checkpoint": checkpoint.name,
        "epoch": epoch,
        "metrics": metrics,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    save_json(manifest, Path(run_dir) / "manifest.json")


def require_stage(run_dir: str | Path, stage: str, produced_by: str) -> Path:
    """Path of a stage checkpoint in a run folder, or a clear error naming the command to run."""
    path = stage_path(run_dir, stage)
    if not path.is_file():
        raise CheckpointError(
            f"run folder has no {stage} checkpoint",
            path=path,
            fix=f"run `reidkit {produced_by}` for this run first (or pass the checkpoint by path)",
        )
    return path


def checkpoint_size(info: dict[str, Any]) -> tuple[int, int] | None:
    """The input size (h, w) a reidkit stage checkpoint was trained at, if it records one."""
    stage = info.get("stage")
    size = (stage or {}).get("config", {}).get("size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return int(size[0]), int(size[1])
    return None
