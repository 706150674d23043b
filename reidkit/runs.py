"""Run folders and stage checkpoints: the one hand-off between commands.

A stage checkpoint is a single `torch.save` file holding only tensors and plain Python values
(so it loads with `weights_only=True`): format tag and version, stage name, model and optimiser
state dicts, epoch/iteration, the resolved config, the dataset fingerprint, metrics, the path
and SHA-256 of its parent checkpoint, and the `Handoff` record: what the next stage needs to know
(every stage writes it, every stage reads it with `read_handoff`; nothing else digs in another
stage's config). A run folder keeps one file per stage (`warmup.pt`, `gen-warmup.pt`,
`train-joint.pt`) and a `manifest.json` listing the stages done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reidkit import __version__
from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.errors import CheckpointError
from reidkit.io import save_json, save_torch

FORMAT = "reidkit-stage"
FORMAT_VERSION = 1
STAGES = ("warmup", "gen-warmup", "train-joint", "import")


@dataclass(frozen=True)
class Handoff:
    """What a stage tells the stages after it: the data, E_id's shape and input size, how the
    run was warmed up, and (from gen-warmup on) the GAN settings train-joint continues with."""

    dataset: str | None = None
    data_root: str | None = None
    camera_regex: str | None = None
    mesh_root: str | None = None
    size: tuple[int, int] | None = None
    arch: str | None = None
    embed_dim: int | None = None
    pooling: str | None = None
    baseline: str | None = None
    temporal: bool = False  # JVTC+: clustering uses the joint visual-temporal model
    preset: str | None = None
    feat_variant: str | None = None
    gan_type: str | None = None
    gan_weights: tuple[float, float, float] | None = None  # lambda_img, lambda_feat, lambda_adv

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the checkpoint (tuples as lists, paths as strings)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Handoff:
        """The record from `to_dict`'s values (unknown keys of a newer reidkit are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        for key in ("size", "gan_weights"):
            if kept.get(key) is not None:
                kept[key] = tuple(kept[key])
        kept["temporal"] = bool(kept.get("temporal", False))
        return cls(**kept)

    def given(self, **values: Any) -> Handoff:
        """This record with the values that are not None put in (a later stage's own options)."""
        values = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def require(self, keys: tuple[str, ...], path: str | Path, fix: str) -> Handoff:
        """This record, or a CheckpointError naming the keys it lacks."""
        missing = [k for k in keys if getattr(self, k) in (None, "")]
        if missing:
            raise CheckpointError(f"the checkpoint's hand-off lacks {', '.join(missing)}",
                                  path=path, fix=fix)
        return self

    def input_size(self, given: tuple[int, int] | None = None) -> tuple[int, int]:
        """The image size to use: as given, else the one the checkpoint was trained at."""
        return tuple(given or self.size or DEFAULT_SIZE)


def read_handoff(state: dict[str, Any]) -> Handoff:
    """The hand-off of a stage checkpoint; for files written before the record existed, the same
    values from their config (and `extra`), where those older versions kept them."""
    if isinstance(state.get("handoff"), dict):
        return Handoff.from_dict(state["handoff"])
    config, extra = state.get("config") or {}, state.get("extra") or {}
    weights = tuple(config.get(f"lambda_{k}") for k in ("img", "feat", "adv"))
    size = config.get("size")
    return Handoff.from_dict({
        **config,
        "size": size if isinstance(size, (list, tuple)) and len(size) == 2 else None,
        "baseline": config.get("baseline", extra.get("baseline")),
        "temporal": extra.get("eval_temporal", False),
        "gan_weights": weights if None not in weights else None,
        "preset": config.get("preset"),
        "embed_dim": None, "pooling": None,
    })


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
    handoff: Handoff | None = None,
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
        "handoff": handoff.to_dict() if handoff is not None else None,
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
