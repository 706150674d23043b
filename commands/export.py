"""`reidkit export`: E_id of any checkpoint eval accepts → ONNX, images to retrieval feature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.export import ExportConfig, run_export

C = ExportConfig


@cli.user_errors
def run(
    checkpoint: cli.CheckpointOpt = None,
    out: Annotated[
        Path | None, cli.opt(C, "out", help="ONNX file to write (atomically).", dir_okay=False)
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            help="Input HEIGHTxWIDTH fixed in the model; default: the checkpoint's training "
            "size, else 256x128.",
        ),
    ] = None,
    dynamic_batch: Annotated[
        bool,
        typer.Option("--dynamic-batch",
                     help="Any batch size at run time (default: batches of exactly 1)."),
    ] = False,
    opset: Annotated[int | None, cli.opt(C, "opset", help="ONNX opset version.")] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Export the identity encoder to ONNX: images → L2-normalised retrieval feature."""
    config = cli.config_from(ExportConfig, run, locals())
    cli.report(run_export(config), json_out, table)


def table(result: dict) -> tuple[str, list[str], list[list]]:
    """Title, columns and rows of the exported model: its input, output, opset, size and the
    onnxruntime check."""
    check = result["check"]
    rows = [
        ["input", f"{result['input']['name']} {result['input']['shape']} float32"],
        ["output", f"{result['output']['name']} {result['output']['shape']} (unit norm)"],
        ["opset", result["opset"]],
        ["size", f"{result['bytes'] / 1e6:.1f} MB"],
        ["onnxruntime check", check.get("skipped")
         or f"max |difference| {check['max_abs_diff']:.2e} from PyTorch"],
    ]
    title = f"exported {result['checkpoint_format']} E_id ({result['arch']}) → {result['onnx']}"
    return title, ["", ""], rows
