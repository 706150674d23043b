"""`reidkit demo`: the whole GCL pipeline on synthetic people, no dataset or weights needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.demo import DemoConfig, run_demo

SHOWN = ("mAP", "rank1", "rank5", "mINP")
C = DemoConfig


@cli.user_errors
def run(
    out_dir: Annotated[
        Path | None,
        cli.opt(C, "out", "--out",
                help="Folder for everything the demo writes; re-running resumes."),
    ] = None,
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
        int | None, cli.opt(C, "seed", help="Seed of the synthetic data and training.")
    ] = None,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Run the whole pipeline on a synthetic dataset.

    synth → mesh → warmup → gen-warmup → train-joint → eval → generate → score-gen.

    Re-running resumes after the last finished stage.
    """
    config = cli.config_from(DemoConfig, run, locals(), rename={"out_dir": "out"})
    summary = run_demo(config)
    if json_out:
        cli.print_json(summary)
        return
    gen = summary["generation"]
    marker = f" — {gen['marker']}" if gen["marker"] else ""
    labels = {"untrained": "E_id untrained (random weights)", "warmup": "E_id after warm-up",
              "train-joint": "E_id after train-joint"}
    rows = [(labels[name], *(cli.percent(s[k]) for k in SHOWN))
            for name, s in summary["eval"].items()]
    generated = summary["generated_queries"]
    rows.append(("generated views as queries (final E_id)",
                 *(cli.percent(generated[k]) for k in SHOWN)))
    cli.print_table("Re-identification on the synthetic test split (%)",
                ["model", "mAP", "R1", "R5", "mINP"], rows)
    cli.print_table(f"Generation quality{marker}",
                    ["row", "FID", "SSIM mean", "SSIM std", "images"],
                [(r["name"], r["fid"], r["ssim_mean"], r["ssim_std"], r["images"])
                 for r in gen["rows"]])
    cli.out.print(
        f"finished in {summary['seconds']:.0f} s; results: {summary['out']}/demo-results.json"
    )
    for label, paths in summary["images"].items():
        shown = paths if isinstance(paths, str) else ", ".join(paths[:3]) or "(none)"
        cli.out.print(f"  {label.replace('_', ' ')}: {shown}")
