"""`reidkit generate`: novel views, structure swaps and identity interpolation from a trained
generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.generate import GenerateConfig, run_generate

C = GenerateConfig
HELP = {
    "checkpoint": "gen-warmup.pt, train-joint.pt or a checkpoint written by `reidkit import`; "
    "required (here or in --config).",
    "dataset": "Dataset layout (default: the checkpoint's).",
    "data-root": "Dataset folder (default: the checkpoint's).",
    "mesh-root": "Mesh renders folder (default: the checkpoint's).",
    "split": "train, query, gallery or test (query + gallery).",
    "angles": "Comma-separated rotations among 45,90,...,315 (default: all seven).",
    "limit": "Only the first N images of the split (default: all).",
    "out": "Output folder (default: <checkpoint folder>/generated).",
    "swap": "A,B: draw A's structure with B's identity (file names or indices in the split); "
    "default: none, novel views; excludes --interpolate.",
    "interpolate": "A,B: interpolate the identity from A to B on A's structure (paper Fig. 7); "
    "default: none, novel views; excludes --swap.",
    "steps": "Interpolation steps, both ends included.",
    "size": "HEIGHTxWIDTH (default: the checkpoint's).",
}


@cli.user_errors
def run(
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help=HELP["checkpoint"])
    ] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=HELP["dataset"])] = None,
    data_root: Annotated[Path | None, typer.Option("--data-root", help=HELP["data-root"])] = None,
    mesh_root: Annotated[Path | None, typer.Option("--mesh-root", help=HELP["mesh-root"])] = None,
    split: Annotated[str | None, cli.opt(C, "split", help=HELP["split"])] = None,
    angles: Annotated[str | None, typer.Option("--angles", help=HELP["angles"])] = None,
    limit: Annotated[int | None, typer.Option("--limit", help=HELP["limit"])] = None,
    out: Annotated[Path | None, typer.Option("--out", help=HELP["out"])] = None,
    swap: Annotated[str | None, typer.Option("--swap", help=HELP["swap"])] = None,
    interpolate: Annotated[
        str | None,
        typer.Option("--interpolate", help=HELP["interpolate"]),
    ] = None,
    steps: Annotated[int | None, cli.opt(C, "steps", help=HELP["steps"])] = None,
    size: Annotated[str | None, typer.Option("--size", help=HELP["size"])] = None,
    batch_size: Annotated[
        int | None, cli.opt(C, "batch_size", help="Images per forward pass.")
    ] = None,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Generate novel views, structure swaps or identity interpolations."""
    result = run_generate(cli.config_from(GenerateConfig, run, locals()))
    if json_out:
        cli.print_json(result)
        return
    rows = [[k, v if not isinstance(v, list) else len(v)] for k, v in result.items()]
    cli.print_table(f"generate ({result['mode']})", ["", "value"], rows)
