"""`reidkit demo`: the whole GCL pipeline on synthetic people, no dataset or weights needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands._cli import (
    DeviceOpt,
    JsonOpt,
    out,
    percent,
    print_json,
    print_table,
    user_errors,
)
from reidkit.config import resolve_config
from reidkit.stages.demo import DemoConfig, run_demo

SHOWN = ("mAP", "rank1", "rank5", "mINP")


@user_errors
def run(
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Folder for everything the demo writes; re-running resumes."),
    ] = Path("demo-run"),
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Tiny sizes and budgets (about 70 s on 2 CPU cores; used by CI).",
        ),
    ] = False,
    inception_weights: Annotated[
        Path | None,
        typer.Option("--inception-weights",
                     help="pytorch-fid Inception weights for real FID; without them (and none in "
                     "the torch hub cache) FID is computed with an untrained network and marked "
                     "so (default: none)."),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the synthetic data and training.")
    ] = 0,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Run the whole pipeline on a synthetic dataset.

    synth → mesh → warmup → gen-warmup → train-joint → eval → generate → score-gen.

    Re-running resumes after the last finished stage.
    """
    config = resolve_config(DemoConfig, None, out=out_dir, quick=quick, device=device, seed=seed,
                            inception_weights=inception_weights)
    summary = run_demo(config)
    if json_out:
        print_json(summary)
        return
    gen = summary["generation"]
    marker = f" — {gen['marker']}" if gen["marker"] else ""
    labels = {"untrained": "E_id untrained (random weights)", "warmup": "E_id after warm-up",
              "train-joint": "E_id after train-joint"}
    rows = [(labels[name], *(percent(s[k]) for k in SHOWN))
            for name, s in summary["eval"].items()]
    generated = summary["generated_queries"]
    rows.append(("generated views as queries (final E_id)",
                 *(percent(generated[k]) for k in SHOWN)))
    print_table("Re-identification on the synthetic test split (%)",
                ["model", "mAP", "R1", "R5", "mINP"], rows)
    print_table(f"Generation quality{marker}", ["row", "FID", "SSIM mean", "SSIM std", "images"],
                [(r["name"], r["fid"], r["ssim_mean"], r["ssim_std"], r["images"])
                 for r in gen["rows"]])
    out.print(
        f"finished in {summary['seconds']:.0f} s; results: {summary['out']}/demo-results.json"
    )
    for label, paths in summary["images"].items():
        shown = paths if isinstance(paths, str) else ", ".join(paths[:3]) or "(none)"
        out.print(f"  {label.replace('_', ' ')}: {shown}")
