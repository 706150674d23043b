"""`reidkit export`: E_id of any checkpoint eval accepts → ONNX, images to retrieval feature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands._cli import JsonOpt, parse_size, print_json, print_table, user_errors
from reidkit.config import resolve_config
from reidkit.stages.export import ExportConfig, run_export


@user_errors
def run(
    checkpoint: Annotated[
        Path,
        typer.Option(
            "--checkpoint",
            help="E_id weights: a reidkit stage checkpoint, a JVTC/GCL state_dict, a GCL "
            "id_*.pt / model_best.pth, or an ICE checkpoint.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="ONNX file to write (atomically).", dir_okay=False),
    ] = Path("model.onnx"),
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
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
    json_out: JsonOpt = False,
) -> None:
    """Export the identity encoder to ONNX: images → L2-normalised retrieval feature."""
    config = resolve_config(
        ExportConfig, None, checkpoint=checkpoint, out=out,
        size=parse_size(size) if size else None, dynamic_batch=dynamic_batch, opset=opset,
    )
    result = run_export(config)
    if json_out:
        print_json(result)
        return
    check = result["check"]
    rows = [
        ["input", f"{result['input']['name']} {result['input']['shape']} float32"],
        ["output", f"{result['output']['name']} {result['output']['shape']} (unit norm)"],
        ["opset", result["opset"]],
        ["size", f"{result['bytes'] / 1e6:.1f} MB"],
        ["onnxruntime check", check.get("skipped")
         or f"max |difference| {check['max_abs_diff']:.2e} from PyTorch"],
    ]
    print_table(f"exported {result['checkpoint_format']} E_id ({result['arch']}) → "
                f"{result['onnx']}", ["", ""], rows)
