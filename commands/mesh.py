"""`reidkit mesh`: body parameters and 8 grey renders per image, in the reference mesh layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.mesh import MeshConfig, run_mesh

C = MeshConfig


@cli.user_errors
def run(
    dataset: cli.GivenDatasetOpt = None,
    data_root: cli.GivenDataRootOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Mesh root to write (train/ and test/); required (here or "
                     "in --config)."),
    ] = None,
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
    splits: Annotated[str | None, cli.opt(C, "splits", help="Comma list of train, test.")] = None,
    size: Annotated[str | None, cli.opt(C, "size", help="Render size HEIGHTxWIDTH.")] = None,
    angles: Annotated[
        str | None, cli.opt(C, "angles", help="Comma list of turn angles in degrees.")
    ] = None,
    renderer: Annotated[str | None, cli.opt(C, "renderer", help="torch or pytorch3d.")] = None,
    batch_size: Annotated[int | None, cli.opt(C, "batch_size", help="Images per batch.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Redo images whose renders already exist.")
    ] = False,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Estimate body meshes (HMR or given parameters) and render 8 views of every image."""
    config = cli.config_from(MeshConfig, run, locals())
    result = run_mesh(config)
    if json_out:
        cli.print_json(result)
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
    cli.print_table(
        f"mesh → {result['out']}",
        ["split", "images", "rendered", "already done", "unreadable", "no params", "images/s"],
        rows,
    )
    if result["unreadable"]:
        cli.print_table("unreadable inputs (skipped)", ["path"],
                        [(p,) for p in result["unreadable"]])
