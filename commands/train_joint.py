"""`reidkit train-joint`: GCL's joint generative + contrastive stage (gen-warmup.pt →
train-joint.pt in the same run folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.train_joint import TrainJointConfig, run_train_joint

C = TrainJointConfig

HELP = {
    "run": "Run folder holding gen-warmup.pt; train-joint.pt is written there (required).",
    "baseline": (
        "Warm-up method of the run (jvtc+ clusters with the joint visual-temporal "
        "distance; default: as the warm-up recorded)."
    ),
    "epochs": "Epochs of joint training (the paper's; an earlier reference commit ran 40).",
    "eps": "Fixed DBSCAN radius (ICE style, e.g. 0.5) instead of the rho rule (default: the rho "
    "rule).",
    "rho": "DBSCAN radius by the rho rule (default 0.002; 0.0012 on MSMT17).",
    "losses": "Loss terms, comma-separated subset of gan,vi,vi1,vi2 (Table 3 ablations).",
    "no-gan": "Contrast only (L_vi^woGAN): no generation, E_id alone trains.",
    "augment": "With --no-gan: flip, crop, colour jitter and random erasing.",
    "preset": (
        "paper (the paper's text) or reference (what the authors' code does): sets "
        "--loss-variant, --view-variant, --gan-lr-decay, --carry-adam and --bn-stats unless "
        "given. "
        "Default: the preset gen-warmup.pt records (paper if none); on --resume the run's "
        "(another is refused)."
    ),
    "loss-variant": (
        "paper or reference (the authors' code: own memory slot for L'_vi, outliers as "
        "negatives, L_vi's positive drawn apart). Default: as --preset."
    ),
    "view-variant": (
        "New view drawn from: paper (all 7 rotations) or reference (45..270 only). "
        "Default: as --preset."
    ),
    "gan-lr-decay": (
        "Multiply the G/D Adam lr by lr_gamma after lr_step epochs like E_id's (paper), or "
        "keep it constant (reference). Default: as --preset."
    ),
    "carry-adam": (
        "Start the G/D Adam moments from gen-warmup's optimiser state (reference) instead of "
        "fresh (paper). Default: as --preset."
    ),
    "lr-id": "SGD learning rate of E_id (the paper's; x0.1 after 10 epochs).",
    "gan-id-weight": (
        "Weight of L_gan in E_id's gradient (1 = the paper's L_all; 0 = E_id learns only from "
        "the view-invariant terms while G and E_str still learn from L_gan)."
    ),
    "bn-stats": (
        "Which E_id forwards update its BatchNorm running statistics: real (the real images "
        "only; the paper is silent) or all (generated images too, as the authors' code). "
        "Default: as --preset (paper: real)."
    ),
    "batch-size": "Images per iteration and process (the paper's).",
    "iters-per-epoch": "Cap on iterations per epoch (0 = one pass over the labelled images).",
    "checkpoint-every": "Also save every N iterations, for mid-epoch resume (0 = epoch ends "
    "only).",
    "eval-every": "Evaluate on the test split every N epochs and at the end (0 = never); "
    "reported only.",
    "amp": "bf16 mixed precision on CUDA (ignored on CPU).",
    "resume": "Continue from the run's train-joint.pt (same step as an uninterrupted run).",
    "workers": "Data-loading processes (-1: 0 on CPU, up to 8 on GPU).",
    "seed": "Random seed.",
}

RunOpt = Annotated[
    Path | None,
    typer.Option("--run", help=HELP["run"]),
]


@cli.user_errors
def run(
    run_dir: RunOpt = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help=HELP["baseline"])] = None,
    epochs: Annotated[int | None, cli.opt(C, "epochs", help=HELP["epochs"])] = None,
    eps: Annotated[float | None, typer.Option("--eps", help=HELP["eps"])] = None,
    rho: Annotated[float | None, typer.Option("--rho", help=HELP["rho"])] = None,
    losses: Annotated[str | None, cli.opt(C, "losses", help=HELP["losses"])] = None,
    no_gan: Annotated[bool, typer.Option("--no-gan", help=HELP["no-gan"])] = False,
    augment: Annotated[bool, typer.Option("--augment", help=HELP["augment"])] = False,
    preset: Annotated[str | None, typer.Option("--preset", help=HELP["preset"])] = None,
    loss_variant: Annotated[
        str | None,
        typer.Option("--loss-variant", help=HELP["loss-variant"]),
    ] = None,
    view_variant: Annotated[
        str | None,
        typer.Option("--view-variant", help=HELP["view-variant"]),
    ] = None,
    gan_lr_decay: Annotated[
        bool | None,
        typer.Option("--gan-lr-decay/--no-gan-lr-decay", help=HELP["gan-lr-decay"]),
    ] = None,
    carry_adam: Annotated[
        bool | None,
        typer.Option("--carry-adam/--no-carry-adam", help=HELP["carry-adam"]),
    ] = None,
    bn_stats: Annotated[str | None, typer.Option("--bn-stats", help=HELP["bn-stats"])] = None,
    lr_id: Annotated[float | None, cli.opt(C, "lr_id", help=HELP["lr-id"])] = None,
    gan_id_weight: Annotated[
        float | None, cli.opt(C, "gan_id_weight", help=HELP["gan-id-weight"])
    ] = None,
    batch_size: Annotated[int | None, cli.opt(C, "batch_size", help=HELP["batch-size"])] = None,
    iters_per_epoch: Annotated[
        int | None, cli.opt(C, "iters_per_epoch", help=HELP["iters-per-epoch"])
    ] = None,
    checkpoint_every: Annotated[
        int | None, cli.opt(C, "checkpoint_every", help=HELP["checkpoint-every"])
    ] = None,
    eval_every: Annotated[int | None, cli.opt(C, "eval_every", help=HELP["eval-every"])] = None,
    amp: Annotated[bool, typer.Option("--amp", help=HELP["amp"])] = False,
    resume: Annotated[bool, typer.Option("--resume", help=HELP["resume"])] = False,
    workers: Annotated[int | None, cli.opt(C, "workers", help=HELP["workers"])] = None,
    seed: Annotated[int | None, cli.opt(C, "seed", help=HELP["seed"])] = None,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Joint generative + contrastive training (GCL) from the run's gen-warmup checkpoint."""
    cfg = cli.config_from(TrainJointConfig, run, locals(), rename={"run_dir": "run"},
                      one_of=("eps", "rho"))
    cli.report(run_train_joint(cfg), json_out, table)


def table(result: dict) -> tuple[str, list[str], list[list]]:
    """Title, columns and rows of train-joint's per-epoch table: losses, learning rate and counts
    as they are, test scores (when evaluated) as percentages (`--json` keeps the fractions)."""
    nan = float("nan")
    columns = ["epoch", "clusters", "outliers", "l_all", "lr_id", "img/s"]
    tested = any("test_mAP" in r for r in result["history"])
    if tested:
        columns += ["test mAP (%)", "test R1 (%)"]
    rows = []
    for r in result["history"]:
        row = [
            r["epoch"],
            r["clusters"],
            r["outliers"],
            r.get("l_all", nan),
            r["lr_id"],
            r["images_per_s"],
        ]
        if tested:
            row += [cli.percent(r.get("test_mAP", nan)), cli.percent(r.get("test_rank1", nan))]
        rows.append(row)
    title = (
        f"train-joint [preset {result['preset']}, {result['loss_variant']} losses] → "
        f"{result['checkpoint']}"
    )
    return title, columns, rows
