"""`reidkit mesh`: body parameters and 8 grey renders per image, in the reference mesh layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands._cli import (
    ConfigOpt,
    DataRootOpt,
    DatasetOpt,
    DeviceOpt,
    JsonOpt,
    parse_csv,
    parse_size,
    print_json,
    print_table,
    user_errors,
)
from reidkit.config import resolve_config
from reidkit.stages.mesh import MeshConfig, run_mesh


@user_errors
def run(
    dataset: DatasetOpt,
    data_root: DataRootOpt,
    out: Annotated[Path, typer.Option("--out", help="Mesh root to write (train/ and test/).")],
    smpl_model: Annotated[
        str | None,
        typer.Option(
            "--smpl-model",
            help="SMPL model file or folder (SMPL_NEUTRAL.pkl / cleaned .npz), or 'procedural' "
            "for the shipped stand-in body model; no default: required (here or in --config).",
        ),
    ] = None,
    hmr_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--hmr-checkpoint",
            help="SPIN's model_checkpoint.pt (HMR weights); required unless --smpl-params is "
            "given.",
        ),
    ] = None,
    smpl_mean_params: Annotated[
        Path | None,
        typer.Option(
            "--smpl-mean-params",
            help="SPIN's smpl_mean_params.npz (needed only if the checkpoint lacks the means); "
            "default: the means stored in the checkpoint.",
        ),
    ] = None,
    smpl_params: Annotated[
        list[Path] | None,
        typer.Option(
            "--smpl-params",
            help="Body-parameter file(s) to render instead of running HMR (repeatable; format "
            "in docs/mesh-and-synth.md; `reidkit synth` writes one); default: none, HMR "
            "estimates them.",
        ),
    ] = None,
    splits: Annotated[
        str | None, typer.Option("--splits", help="Comma list of train, test (default both).")
    ] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Render size HEIGHTxWIDTH (default 256x128).")
    ] = None,
    angles: Annotated[
        str | None,
        typer.Option("--angles", help="Comma list of turn angles in degrees (default 45..315)."),
    ] = None,
    renderer: Annotated[
        str | None, typer.Option("--renderer", help="torch (default) or pytorch3d.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Images per batch (default 32).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Redo images whose renders already exist.")
    ] = False,
    device: DeviceOpt = "auto",
    config_file: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Estimate body meshes (HMR or given parameters) and render 8 views of every image."""
    config = resolve_config(
        MeshConfig,
        config_file,
        dataset=dataset,
        data_root=data_root,
        out=out,
        smpl_model=smpl_model,
        hmr_checkpoint=hmr_checkpoint,
        smpl_mean_params=smpl_mean_params,
        smpl_params=tuple(smpl_params) if smpl_params else None,
        splits=tuple(parse_csv(splits, str, "--splits")) if splits else None,
        size=parse_size(size) if size else None,
        angles=tuple(parse_csv(angles, int, "--angles")) if angles else None,
        renderer=renderer,
        batch_size=batch_size,
        overwrite=overwrite or None,
        device=device,
    )
    result = run_mesh(config)
    if json_out:
        print_json(result)
        return
    rows = [
        (
            split,
            s["images"],
            s["rendered"],
            s["skipped"],
            len(s["unreadable"]),
            len(s["no_params"]),
            s["images_per_s"],
        )
        for split, s in result["splits"].items()
    ]
    print_table(
        f"mesh → {result['out']}",
        ["split", "images", "rendered", "already done", "unreadable", "no params", "images/s"],
        rows,
    )
    if result["unreadable"]:
        print_table("unreadable inputs (skipped)", ["path"], [(p,) for p in result["unreadable"]])
