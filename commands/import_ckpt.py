"""`reidkit import`: turn the authors' GCL checkpoints into a reidkit stage checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.import_ckpt import ImportConfig, run_import

C = ImportConfig
HELP = {
    "out": "Stage checkpoint to write, e.g. runs/x/train-joint.pt; required (here or in "
    "--config).",
    "format": "Source format: gcl (the authors' gen_/dis_/id_*.pt, model_best.pth).",
    "gen": "gen_XXXXXXXX.pt ({'gen': state_dict}: E_str, G, AdaIN MLPs); required unless "
    "--stage warmup.",
    "dis": "dis_XXXXXXXX.pt ({'dis': state_dict}), optional (needed to train on); default: "
    "none, no D.",
    "id": "id_XXXXXXXX.pt ({'id': state_dict}) or model_best.pth (E_id); required.",
    "stage": "Stage name to record: train-joint, gen-warmup, warmup or import.",
    "dataset": "Dataset layout to record for later commands (market, duke, msmt, folder); "
    "default: none, later commands then need --dataset.",
    "data-root": "Dataset folder to record for later commands; default: none, later commands "
    "then need --data-root.",
    "mesh-root": "Mesh renders folder to record for later commands; default: none, later "
    "commands then need --mesh-root.",
    "size": "Input size HEIGHTxWIDTH the weights were trained at.",
}


@cli.user_errors
def run(
    out: Annotated[Path | None, typer.Option("--out", help=HELP["out"])] = None,
    fmt: Annotated[str | None, cli.opt(C, "format", "--format", help=HELP["format"])] = None,
    gen: Annotated[Path | None, typer.Option("--gen", help=HELP["gen"])] = None,
    dis: Annotated[Path | None, typer.Option("--dis", help=HELP["dis"])] = None,
    id_path: Annotated[Path | None, typer.Option("--id", help=HELP["id"])] = None,
    stage: Annotated[str | None, cli.opt(C, "stage", help=HELP["stage"])] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=HELP["dataset"])] = None,
    data_root: Annotated[Path | None, typer.Option("--data-root", help=HELP["data-root"])] = None,
    mesh_root: Annotated[Path | None, typer.Option("--mesh-root", help=HELP["mesh-root"])] = None,
    size: Annotated[str | None, cli.opt(C, "size", help=HELP["size"])] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Import the authors' GCL checkpoints as a reidkit stage checkpoint."""
    result = run_import(cli.config_from(ImportConfig, run, locals(), rename={"fmt": "format"}))
    if json_out:
        cli.print_json(result)
        return
    rows = [[name, count] for name, count in result["tensors"].items()]
    cli.print_table(
        f"imported → {result['checkpoint']} (stage {result['stage']}, {result['arch']})",
        ["model", "tensors"], rows)
