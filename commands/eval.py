"""`reidkit eval`: mAP / CMC / mINP of a checkpoint's identity encoder (or an exported ONNX
model) on a dataset, optionally with ranked lists drawn as pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.evaluation.engine import SCORE_KEYS
from reidkit.stages.eval import EvalConfig, run_eval

COLUMNS = ("", "mAP", "R1", "R5", "R10", "mINP")
C = EvalConfig


def _row(label: str, scores: dict) -> list:
    return [label, *(cli.percent(scores[k]) for k in SCORE_KEYS)]


@cli.user_errors
def run(
    dataset: cli.GivenDatasetOpt = None,
    data_root: cli.GivenDataRootOpt = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint",
                     help=f"{cli.CHECKPOINT_KINDS}. Required unless --onnx is given."),
    ] = None,
    onnx: Annotated[
        Path | None,
        typer.Option(
            "--onnx",
            help="Evaluate an ONNX model written by `reidkit export` instead of a checkpoint "
            "(features through onnxruntime); default: none.",
            dir_okay=False,
        ),
    ] = None,
    rerank: Annotated[
        bool,
        typer.Option("--rerank", help="Also report k-reciprocal re-ranking (k1 20, k2 6, λ 0.3)."),
    ] = False,
    flip: Annotated[
        bool, typer.Option("--flip", help="Average each image's feature with its mirror image's.")
    ] = False,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            help="Input HEIGHTxWIDTH; default: the checkpoint's training size (an ONNX model's "
            "input size), else 256x128.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None, cli.opt(C, "batch_size", help="Images per forward pass.")
    ] = None,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    camera_regex: cli.CameraRegexOpt = None,
    temporal: Annotated[
        bool,
        typer.Option(
            "--temporal",
            help="JVTC+ protocol: rank by the joint visual-temporal distance, its temporal model "
            "fitted on the training split's pseudo labels (market, duke, msmt).",
        ),
    ] = False,
    show_ranks: Annotated[
        int | None,
        cli.opt(C, "show_ranks",
                help="Draw the ranked lists of N queries (query + top 10, green/red "
            "borders, junk greyed) as PNGs into --out-dir; 0 = none."),
    ] = None,
    show_ranks_worst: Annotated[
        bool,
        typer.Option(
            "--show-ranks-worst",
            help="With --show-ranks: the N queries of lowest AP, worst first (default: a seeded "
            "draw spread over cameras).",
        ),
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", help="Folder for the --show-ranks pictures; default: none (needed "
            "with --show-ranks).", file_okay=False,
        ),
    ] = None,
    seed: Annotated[
        int | None, cli.opt(C, "seed", help="Seed of the --show-ranks query draw.")
    ] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Evaluate a checkpoint or ONNX model on a query/gallery: mAP, Rank-1/5/10, mINP (+ re-ranked).

    Direct cross-dataset evaluation is just eval of a model trained on another dataset.

    Example: a Duke checkpoint with --dataset market --data-root MARKET_ROOT.

    mAP is non-interpolated; queries with no match in another camera are skipped and counted.
    """
    config = cli.config_from(EvalConfig, run, locals())
    result = run_eval(config)
    if json_out:
        cli.print_json(result)
        return
    rows = [_row("joint (JVTC+)" if config.temporal else "plain", result)]
    if "rerank" in result:
        rows.append(_row("re-ranked", result["rerank"]))
    h, w = result["config"]["size"]
    cli.print_table(
        f"{result['dataset']}: {result['num_query']} queries ({result['valid_queries']} valid) × "
        f"{result['num_gallery']} gallery, {h}x{w}{', flip' if config.flip else ''} (%)",
        COLUMNS,
        rows,
    )
    figures = result.get("rank_figures")
    if figures:
        cli.out.print(f"ranked lists: {len(figures['files'])} PNGs in {figures['out_dir']}",
                  markup=False)
