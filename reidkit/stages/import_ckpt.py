"""`reidkit import`: the authors' GCL checkpoints written as one reidkit stage checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reidkit.config import require
from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.errors import CheckpointError, ConfigError
from reidkit.models.generator import id_chunk_of
from reidkit.models.identity import encoder_shape
from reidkit.models.import_gcl import load_gcl_checkpoints
from reidkit.runs import Handoff, save_stage

IMPORT_STAGES = ("warmup", "gen-warmup", "train-joint", "import")
FORMATS = ("gcl",)


@dataclass
class ImportConfig:
    """What `reidkit import` needs: the authors' files and what to record for later commands."""

    out: Path | None = None
    format: str = "gcl"
    gen: Path | None = None
    dis: Path | None = None
    id_path: Path | None = None
    stage: str = "train-joint"
    dataset: str | None = None
    data_root: Path | None = None
    mesh_root: Path | None = None
    size: tuple[int, int] = DEFAULT_SIZE


def _check(config: ImportConfig) -> None:
    require(config, out="--out runs/NAME/train-joint.pt")
    if config.format not in FORMATS:
        raise ConfigError(f"unknown --format '{config.format}'",
                          fix=f"choose one of {', '.join(FORMATS)}")
    if config.stage not in IMPORT_STAGES:
        raise ConfigError(f"unknown stage '{config.stage}'",
                          fix=f"choose one of {', '.join(IMPORT_STAGES)}")
    if config.id_path is None:
        raise ConfigError("no E_id checkpoint given",
                          fix="pass --id id_XXXXXXXX.pt or model_best.pth")
    if config.gen is None and config.stage != "warmup":
        raise ConfigError(f"stage {config.stage} needs the generator",
                          fix="pass --gen gen_XXXXXXXX.pt")


def run_import(config: ImportConfig) -> dict[str, Any]:
    """Write the authors' checkpoints as one reidkit stage checkpoint that eval, generate and
    train-joint accept; returns the path, the models and their tensor counts."""
    _check(config)
    c = config
    models = load_gcl_checkpoints(c.gen, c.dis, c.id_path)
    shape = encoder_shape(models["E_id"])
    if "G" in models and id_chunk_of(models["G"]) != shape.channels:
        raise CheckpointError("the generator's identity input does not fit this E_id",
                              path=c.gen, fix="pass gen and id files of the same training run")
    record = {
        "dataset": c.dataset, "data_root": str(c.data_root) if c.data_root else None,
        "mesh_root": str(c.mesh_root) if c.mesh_root else None, "arch": shape.arch,
        "size": list(c.size), "feat_variant": "reference", "gan_type": "lsgan", "format": "gcl",
        "sources": {"gen": str(c.gen) if c.gen else None, "dis": str(c.dis) if c.dis else None,
                    "id": str(c.id_path)},
    }
    handoff = Handoff().given(
        dataset=c.dataset, data_root=c.data_root, mesh_root=c.mesh_root, size=tuple(c.size),
        arch=shape.arch, embed_dim=shape.embed_dim or shape.channels, pooling=shape.pooling,
        feat_variant="reference", gan_type="lsgan")
    save_stage(c.out, stage=c.stage, models=models, config=record, epoch=0, handoff=handoff,
               extra={"imported": "gcl"})
    return {"checkpoint": str(c.out), "stage": c.stage, "arch": shape.arch,
            "tensors": {name: len(sd) for name, sd in models.items()}}
