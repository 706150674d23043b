"""`reidkit gen-warmup`: train the structure encoder, generator and discriminator against the
frozen warmed-up E_id (GCL stage 2) into `<run>/gen-warmup.pt`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands._cli import (
    ConfigOpt,
    DeviceOpt,
    JsonOpt,
    parse_size,
    print_json,
    print_table,
    user_errors,
)

HELP = {
    "run": "Run folder holding warmup.pt; gen-warmup.pt is written there (required).",
    "mesh-root": "Renders written by `reidkit mesh` (or the authors' archives; default: the "
    "warm-up's).",
    "init": "Take E_id from this checkpoint (any that eval accepts) instead of <run>/warmup.pt "
    "(default).",
    "dataset": "Dataset layout (default: from the warm-up checkpoint).",
    "data-root": "Dataset folder (default: from the warm-up checkpoint).",
    "size": "Input size HEIGHTxWIDTH (default: the warm-up's, else 256x128).",
    "epochs": "Epochs over all training images (default 40, the paper's).",
    "iters-per-epoch": "Cap on iterations per epoch for quick runs (default: none, one full pass).",
    "lr": "Adam learning rate of E_str, G and D (default 1e-4, the paper's).",
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
    "gan-type": "Adversarial loss: lsgan (reference, with R1; default) or log (paper's form).",
    "amp": "bf16 autocast on CUDA (no effect on CPU; default: off).",
    "channels-last": "Channels-last memory format (GPU speed-up; default: off).",
    "sample-every": "Write a sample grid PNG into <run>/samples every N iterations (0 = never; "
    "default 500).",
    "workers": "Data loader processes (default -1: 0 on CPU, 4 on GPU).",
    "seed": "Random seed: batch order, novel-view draws, initialisation (default 1).",
    "resume": "Continue from <run>/gen-warmup.pt (its settings are kept).",
}


@user_errors
def run(
    run_dir: Annotated[Path | None, typer.Option("--run", help=HELP["run"])] = None,
    mesh_root: Annotated[Path | None, typer.Option("--mesh-root", help=HELP["mesh-root"])] = None,
    init: Annotated[Path | None, typer.Option("--init", help=HELP["init"])] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=HELP["dataset"])] = None,
    data_root: Annotated[Path | None, typer.Option("--data-root", help=HELP["data-root"])] = None,
    size: Annotated[str | None, typer.Option("--size", help=HELP["size"])] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help=HELP["epochs"])] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", "--batch",
                     help="Images per batch (default 16, the paper's); --batch is the old name."),
    ] = None,
    iters_per_epoch: Annotated[
        int | None,
        typer.Option("--iters-per-epoch", help=HELP["iters-per-epoch"]),
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help=HELP["lr"])] = None,
    preset: Annotated[str | None, typer.Option("--preset", help=HELP["preset"])] = None,
    feat_variant: Annotated[
        str | None,
        typer.Option("--feat-variant", help=HELP["feat-variant"]),
    ] = None,
    view_variant: Annotated[
        str | None,
        typer.Option("--view-variant", help=HELP["view-variant"]),
    ] = None,
    gan_type: Annotated[str | None, typer.Option("--gan-type", help=HELP["gan-type"])] = None,
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help=HELP["amp"])] = None,
    channels_last: Annotated[
        bool | None,
        typer.Option("--channels-last/--no-channels-last", help=HELP["channels-last"]),
    ] = None,
    sample_every: Annotated[
        int | None,
        typer.Option("--sample-every", help=HELP["sample-every"]),
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help=HELP["workers"])] = None,
    seed: Annotated[int | None, typer.Option("--seed", help=HELP["seed"])] = None,
    resume: Annotated[bool, typer.Option("--resume", help=HELP["resume"])] = False,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train E_str, G and D with L_gan against the frozen E_id (GCL stage 2)."""
    from reidkit.config import resolve_config
    from reidkit.stages.gen_warmup import GenWarmupConfig, run_gen_warmup

    cfg = resolve_config(
        GenWarmupConfig,
        config,
        run=run_dir,
        mesh_root=mesh_root,
        init=init,
        dataset=dataset,
        data_root=data_root,
        size=parse_size(size) if size else None,
        epochs=epochs,
        batch_size=batch_size,
        iters_per_epoch=iters_per_epoch,
        lr=lr,
        preset=preset,
        feat_variant=feat_variant,
        view_variant=view_variant,
        gan_type=gan_type,
        amp=amp,
        channels_last=channels_last,
        sample_every=sample_every,
        workers=workers,
        seed=seed,
        resume=resume,
        device=device,
    )
    result = run_gen_warmup(cfg)
    if json_out:
        print_json(result)
        return
    final = result["final"]
    rows = [[k, v] for k, v in final.items() if k not in ("epoch", "iteration")]
    rows += [["iterations", result["iterations"]], ["checkpoint", result["checkpoint"]]]
    title = f"gen-warmup [preset {result['config']['preset']}]: epoch {final.get('epoch', '-')}"
    print_table(f"{title} (mean losses)", ["term", "value"], rows)
