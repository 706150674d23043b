"""`reidkit gen-warmup`: train the structure encoder, generator and discriminator against the
frozen warmed-up E_id (GCL stage 2) into `<run>/gen-warmup.pt`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.gen_warmup import GenWarmupConfig, run_gen_warmup

C = GenWarmupConfig

HELP = {
    "run": "Run folder holding warmup.pt; gen-warmup.pt is written there (required).",
    "mesh-root": "Renders written by `reidkit mesh` (or the authors' archives; default: the "
    "warm-up's).",
    "init": "Take E_id from this checkpoint (any that eval accepts) instead of <run>/warmup.pt "
    "(default).",
    "dataset": "Dataset layout (default: from the warm-up checkpoint).",
    "data-root": "Dataset folder (default: from the warm-up checkpoint).",
    "size": "Input size HEIGHTxWIDTH (default: the warm-up's, else 256x128).",
    "epochs": "Epochs over all training images (the paper's).",
    "iters-per-epoch": "Cap on iterations per epoch for quick runs (default: none, one full pass).",
    "lr": "Adam learning rate of E_str, G and D (the paper's).",
    "preset": (
        "paper (default: the paper's text) or reference (what the authors' code does): sets "
        "--feat-variant and --view-variant unless given; recorded in gen-warmup.pt and handed "
        "to train-joint. On --resume: the run's (another is refused)."
    ),
    "feat-variant": (
        "L_feat: paper (f_id_new + f_id_ori) or reference (the authors' code: f_id_ori + "
        "f_id_cyc). Default: as --preset."
    ),
    "view-variant": (
        "New view drawn from: paper (all 7 rotations, 45..315) or reference (45..270 only, the "
        "authors' off-by-one). Default: as --preset."
    ),
    "gan-type": "Adversarial loss: lsgan (reference, with R1) or log (paper's form).",
    "amp": "bf16 autocast on CUDA (no effect on CPU).",
    "channels-last": "Channels-last memory format (GPU speed-up).",
    "d-dim": "Channel width of D's first layers (32 = the paper's; 16 makes a CPU step about "
             "1.6x faster and is what the demo trains with). train-joint reads it from the "
             "checkpoint.",
    "sample-every": "Write a sample grid PNG into <run>/samples every N iterations (0 = never).",
    "workers": "Data loader processes (-1: 0 on CPU, up to 8 on GPU).",
    "seed": "Random seed: batch order, novel-view draws, initialisation.",
    "batch-size": "Images per batch (the paper's); --batch is the old name.",
    "resume": "Continue from <run>/gen-warmup.pt (its settings are kept).",
}


@cli.user_errors
def run(
    run_dir: Annotated[Path | None, typer.Option("--run", help=HELP["run"])] = None,
    mesh_root: Annotated[Path | None, typer.Option("--mesh-root", help=HELP["mesh-root"])] = None,
    init: Annotated[Path | None, typer.Option("--init", help=HELP["init"])] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=HELP["dataset"])] = None,
    data_root: Annotated[Path | None, typer.Option("--data-root", help=HELP["data-root"])] = None,
    size: Annotated[str | None, typer.Option("--size", help=HELP["size"])] = None,
    epochs: Annotated[int | None, cli.opt(C, "epochs", help=HELP["epochs"])] = None,
    batch_size: Annotated[
        int | None, cli.opt(C, "batch_size", "--batch-size", "--batch", help=HELP["batch-size"])
    ] = None,
    iters_per_epoch: Annotated[
        int | None,
        typer.Option("--iters-per-epoch", help=HELP["iters-per-epoch"]),
    ] = None,
    lr: Annotated[float | None, cli.opt(C, "lr", help=HELP["lr"])] = None,
    preset: Annotated[str | None, typer.Option("--preset", help=HELP["preset"])] = None,
    feat_variant: Annotated[
        str | None,
        typer.Option("--feat-variant", help=HELP["feat-variant"]),
    ] = None,
    view_variant: Annotated[
        str | None,
        typer.Option("--view-variant", help=HELP["view-variant"]),
    ] = None,
    gan_type: Annotated[str | None, cli.opt(C, "gan_type", help=HELP["gan-type"])] = None,
    d_dim: Annotated[int | None, cli.opt(C, "d_dim", help=HELP["d-dim"])] = None,
    amp: Annotated[bool | None, cli.opt(C, "amp", "--amp/--no-amp", help=HELP["amp"])] = None,
    channels_last: Annotated[
        bool | None,
        cli.opt(C, "channels_last", "--channels-last/--no-channels-last",
                help=HELP["channels-last"]),
    ] = None,
    sample_every: Annotated[
        int | None, cli.opt(C, "sample_every", help=HELP["sample-every"])
    ] = None,
    workers: Annotated[int | None, cli.opt(C, "workers", help=HELP["workers"])] = None,
    seed: Annotated[int | None, cli.opt(C, "seed", help=HELP["seed"])] = None,
    resume: Annotated[bool, typer.Option("--resume", help=HELP["resume"])] = False,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Train E_str, G and D with L_gan against the frozen E_id (GCL stage 2)."""
    cfg = cli.config_from(GenWarmupConfig, run, locals(), rename={"run_dir": "run"})
    cli.report(run_gen_warmup(cfg), json_out, table)


def table(result: dict) -> tuple[str, list[str], list[list]]:
    """Title, columns and rows of gen-warmup's last epoch: its mean losses, the iterations and
    the checkpoint."""
    final = result["final"]
    rows = [[k, v] for k, v in final.items() if k not in ("epoch", "iteration")]
    rows += [["iterations", result["iterations"]], ["checkpoint", result["checkpoint"]]]
    title = f"gen-warmup [preset {result['config']['preset']}]: epoch {final.get('epoch', '-')}"
    return f"{title} (mean losses)", ["term", "value"], rows
