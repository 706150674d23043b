"""`reidkit doctor`: versions, GPU, optional packages and the weights this installation finds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from reidkit.commands import _cli as cli
from reidkit.stages.doctor import run_doctor

COLUMNS = ["", "status", "found"]


def _rows(checks: list[dict]) -> list[list[str]]:
    return [[escape(c["name"]), c["status"], escape(c["detail"])] for c in checks]


def _to_do(checks: list[dict]) -> None:
    for c in checks:
        if c["fix"]:
            cli.out.print(f"  {c['name']}: {c['fix']}", markup=False)


@cli.user_errors
def run(
    smpl_model: Annotated[
        str | None,
        typer.Option("--smpl-model", help="Also check this SMPL model file or folder (as mesh "
                     "takes it); default: none, not checked."),
    ] = None,
    hmr_checkpoint: Annotated[
        Path | None,
        typer.Option("--hmr-checkpoint", help="Also check this SPIN model_checkpoint.pt; "
                     "default: none, not checked.", dir_okay=False),
    ] = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Report Python, torch, CUDA, faiss, pytorch3d, ONNX and the weights found (exit 0)."""
    report = run_doctor(smpl_model, hmr_checkpoint)
    if json_out:
        cli.print_json(report)
        return
    cli.print_table("environment", COLUMNS, _rows(report["environment"]))
    _to_do(report["environment"])
    cli.print_table("weights and licensed files", COLUMNS, _rows(report["weights"]))
    _to_do(report["weights"])
