"""`reidkit import`: the authors' GCL checkpoints written as one reidkit stage checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.errors import CheckpointError, ConfigError
from reidkit.models.generator import id_chunk_of
from reidkit.models.identity import encoder_shape
from reidkit.models.import_gcl import load_gcl_checkpoints
from reidkit.runs import Handoff, save_stage

IMPORT_STAGES = ("warmup", "gen-warmup", "train-joint", "import")


def run_import(
    *,
    out: str | Path,
    gen: str | Path | None = None,
    dis: str | Path | None = None,
    id_path: str | Path | None = None,
    stage: str = "train-joint",
    dataset: str | None = None,
    data_root: str | Path | None = None,
    mesh_root: str | Path | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> dict[str, Any]:
    """Write the authors' checkpoints as one reidkit stage checkpoint that eval, generate and
    train-joint accept; returns the path, the models and their tensor counts."""
    if stage not in IMPORT_STAGES:
        raise ConfigError(f"unknown stage '{stage}'",
                          fix=f"choose one of {', '.join(IMPORT_STAGES)}")
    if id_path is None:
        raise ConfigError("no E_id checkpoint given",
                          fix="pass --id id_XXXXXXXX.pt or model_best.pth")
    if gen is None and stage != "warmup":
        raise ConfigError(f"stage {stage} needs the generator", fix="pass --gen gen_XXXXXXXX.pt")
    models = load_gcl_checkpoints(gen, dis, id_path)
    shape = encoder_shape(models["E_id"])
    if "G" in models and id_chunk_of(models["G"]) != shape.channels:
        raise CheckpointError("the generator's identity input does not fit this E_id",
                              path=gen, fix="pass gen and id files of the same training run")
    config = {
        "dataset": dataset, "data_root": str(data_root) if data_root else None,
        "mesh_root": str(mesh_root) if mesh_root else None, "arch": shape.arch, "size": list(size),
        "feat_variant": "reference", "gan_type": "lsgan", "format": "gcl",
        "sources": {"gen": str(gen) if gen else None, "dis": str(dis) if dis else None,
                    "id": str(id_path)},
    }
    handoff = Handoff().given(
        dataset=dataset, data_root=data_root, mesh_root=mesh_root, size=tuple(size),
        arch=shape.arch, embed_dim=shape.embed_dim or shape.channels, pooling=shape.pooling,
        feat_variant="reference", gan_type="lsgan")
    save_stage(out, stage=stage, models=models, config=config, epoch=0, handoff=handoff,
               extra={"imported": "gcl"})
    return {"checkpoint": str(out), "stage": stage, "arch": shape.arch,
            "tensors": {name: len(sd) for name, sd in models.items()}}
