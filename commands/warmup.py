"""`reidkit warmup`: train E_id with an unsupervised baseline (JVTC, JVTC+, ICE, MMCL,
Cluster-Contrast, ABMT, ACT, DomainMix; UDA with a labelled source; supervised) into
`<out>/warmup.pt`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.evaluation.engine import SCORE_KEYS


@cli.user_errors
def run(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Target dataset layout: market, duke, msmt or folder (default: market).",
        ),
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option("--data-root", help="Folder holding the target dataset (required)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="jvtc, jvtc+, ice, mmcl, cc, abmt or act; supervised trains on the true "
            "training ids; domainmix mixes a labelled synthetic --source in (default: jvtc).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run folder; the checkpoint is <out>/warmup.pt (required)."),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch",
            help="Backbone: resnet50 (paper; default), resnet18 (quick CPU runs), or with "
            "--baseline supervised only scr (SCR's three-branch ResNet-50, 3328-d; its default) "
            "or scr-resnet18.",
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="E_id head: gcl (Linear to 512 + BN, GCL's; default except ice, cc) or bnneck "
            "(pooled features + BN, ICE's and Cluster-Contrast's 2048-d; default for ice, cc).",
        ),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            "--pooling",
            help="Global pooling before the head: avg or gem (learned generalised mean; "
            "default: gem for cc, avg otherwise).",
        ),
    ] = None,
    pretrained: Annotated[
        str | None,
        typer.Option(
            "--pretrained",
            help="ImageNet weights: auto (torch hub cache; default), a .pth path, or none.",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs of the baseline (default: the paper's).")
    ] = None,
    iters: Annotated[
        int | None,
        typer.Option(
            "--iters",
            help="Iterations per epoch (0 = one pass over the training set; default 0, ice 400, "
            "cc 200).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Batch size in images, JVTC adds views of each "
            "(default: jvtc 64, ice 32, mmcl 128, cc 256).",
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr", help="Base learning rate (default: jvtc/mmcl 0.01, ice/cc 3.5e-4)."
        ),
    ] = None,
    eps: Annotated[
        float | None,
        typer.Option(
            "--eps",
            help="Fixed DBSCAN eps, replaces the rho rule (default: ice 0.55, cc 0.6; others use "
            "--rho).",
        ),
    ] = None,
    rho: Annotated[
        float | None,
        typer.Option("--rho", help="eps from the rho rule (JVTC/GCL; default 0.0016 for jvtc)."),
    ] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Input size HEIGHTxWIDTH (default 256x128).")
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option(
            "--eval-every",
            help="Evaluate on the test split every N epochs and at the end (0 = never); "
            "reported only, never used to pick the checkpoint (default 0).",
        ),
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory", help="ICE proxy memory: aware (camera-aware; default) or agnostic."
        ),
    ] = None,
    hard: Annotated[
        bool | None,
        typer.Option("--hard/--no-hard", help="ICE: use the hard instance loss (default: on)."),
    ] = None,
    soft: Annotated[
        bool | None,
        typer.Option(
            "--soft/--no-soft", help="ICE: use the soft instance consistency loss (default: on)."
        ),
    ] = None,
    ema: Annotated[
        float | None,
        typer.Option(
            "--ema",
            help="ice: momentum-encoder EMA, abmt: mean-teacher EMA (default 0.999; lower it "
            "for short runs).",
        ),
    ] = None,
    ema_variant: Annotated[
        str | None,
        typer.Option(
            "--ema-variant",
            help="abmt: paper (alpha fixed; default) or ref (the code's min(1 - 1/(t+1), alpha)).",
        ),
    ] = None,
    lambda_ce: Annotated[
        float | None,
        typer.Option(
            "--lambda-ce", help="abmt: weight of the hard CE of both branches (default 0.5)."
        ),
    ] = None,
    lambda_sce: Annotated[
        float | None,
        typer.Option(
            "--lambda-sce", help="abmt: weight of the cross-branch soft CE (default 0.5)."
        ),
    ] = None,
    lambda_stri: Annotated[
        float | None,
        typer.Option(
            "--lambda-stri", help="abmt: weight of the cross-branch soft triplet (default 1)."
        ),
    ] = None,
    source_warmup_epochs: Annotated[
        int | None,
        typer.Option(
            "--source-warmup-epochs",
            help="abmt: linear lr warm-up epochs of the source stage (default 0; the code's 10).",
        ),
    ] = None,
    source_triplet_variant: Annotated[
        str | None,
        typer.Option(
            "--source-triplet-variant",
            help="abmt: source triplet, paper (batch-hard, margin 0.3; default) or ref (soft "
            "margin, the code's).",
        ),
    ] = None,
    num_instances: Annotated[
        int | None,
        typer.Option(
            "--num-instances",
            help="ice, cc, act, abmt, supervised: images per (pseudo) identity in a P×K batch "
            "(default: ice 4, cc 16, act 4, abmt 4, supervised 4).",
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature", help="cc: InfoNCE temperature over the centroids (default 0.05)."
        ),
    ] = None,
    centroid_momentum: Annotated[
        float | None,
        typer.Option(
            "--centroid-momentum",
            help="cc: weight of the old centroid in each memory update (default 0.1, the "
            "authors' commands).",
        ),
    ] = None,
    hard_memory: Annotated[
        bool | None,
        typer.Option(
            "--hard-memory/--no-hard-memory",
            help="cc: update each centroid with its least similar batch image only (the code's "
            "cm_hard) instead of every image (default: off).",
        ),
    ] = None,
    round_epochs: Annotated[
        int | None,
        typer.Option(
            "--round-epochs",
            help="act: epochs between relabellings; --epochs is rounds × this (default 30).",
        ),
    ] = None,
    co_teaching: Annotated[
        str | None,
        typer.Option(
            "--co-teaching",
            help="act: act (asymmetric: A learns inliers + B's kept outliers; default) or ct "
            "(symmetric co-teaching on inliers only, the paper's ablation).",
        ),
    ] = None,
    domain_loss: Annotated[
        str | None,
        typer.Option(
            "--domain-loss",
            help="domainmix: stage 3's L_dm, db (domain balance, Eq. 8; default), kl (symmetric "
            "KL to uniform, Eq. 6) or none (DirectMix: no discriminator loss).",
        ),
    ] = None,
    relabel: Annotated[
        str | None,
        typer.Option(
            "--relabel",
            help="domainmix: once (label the real set at the start, the paper; default) or epoch "
            "(re-cluster it every epoch with the current model, the code).",
        ),
    ] = None,
    adversarial_start: Annotated[
        int | None,
        typer.Option(
            "--adversarial-start",
            help="domainmix: first epoch of stage 3, the discriminator's (default 20 of 40).",
        ),
    ] = None,
    alternate: Annotated[
        str | None,
        typer.Option(
            "--alternate",
            help="domainmix: stage 3 alternates by epoch (Alg. 1; default) or by step (the "
            "code's one discriminator step in every 10).",
        ),
    ] = None,
    min_size: Annotated[
        int | None,
        typer.Option(
            "--min-size", help="domainmix: drop pseudo classes with fewer images (default 5)."
        ),
    ] = None,
    max_size: Annotated[
        int | None,
        typer.Option(
            "--max-size",
            help="domainmix: drop pseudo classes with more images (default 120; 0 = no cap, "
            "the code's).",
        ),
    ] = None,
    lambda_dm: Annotated[
        float | None,
        typer.Option("--lambda-dm", help="domainmix: weight of L_dm in stage 3 (default 1)."),
    ] = None,
    erasing: Annotated[
        float | None,
        typer.Option(
            "--erasing",
            help="supervised: RandomErasing probability (default 0: flip only, SCR's paper; "
            "SCR's code: 0.5).",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="UDA: labelled source dataset layout (market, duke, msmt, folder; default: none).",
        ),
    ] = None,
    source_root: Annotated[
        Path | None,
        typer.Option(
            "--source-root", help="UDA: folder holding the source dataset (default: none)."
        ),
    ] = None,
    source_epochs: Annotated[
        int | None,
        typer.Option(
            "--source-epochs",
            help="UDA: supervised source epochs (default 80; domainmix: 20, its stage-1 "
            "stand-in).",
        ),
    ] = None,
    source_iters: Annotated[
        int | None,
        typer.Option(
            "--source-iters",
            help="UDA: iterations per source epoch (default 0 = one pass; abmt 200, domainmix "
            "800).",
        ),
    ] = None,
    camera_regex: Annotated[
        str | None,
        typer.Option(
            "--camera-regex",
            help="Folder datasets: regex whose group 1 is the camera id (default: none).",
        ),
    ] = None,
    device: cli.DeviceOpt = "auto",
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 1).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Data-loading processes (default -1: none on CPU, up to 8 on CUDA)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last epoch.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Start over even if --out already has a warm-up.")
    ] = False,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Warm up the identity encoder E_id with a baseline: JVTC, JVTC+, ICE, MMCL, Cluster-Contrast,
    ABMT, ACT, DomainMix (+ UDA source), or supervised."""
    options = dict(locals())
    from reidkit.baselines.config import WarmupConfig
    from reidkit.stages.warmup import run_warmup, warmup_config

    cfg = warmup_config(config, **cli.given_options(WarmupConfig, run, options))
    cli.report(run_warmup(cfg), json_out, table)


def table(result: dict) -> tuple[str, list[str], list[tuple]]:
    """Title, columns and rows of the warm-up's result table: the last epoch's fields as they
    are (losses, learning rate, counts) and its test scores as percentages (`--json` keeps the
    fractions)."""
    metrics = result["metrics"]
    rows: list[tuple] = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float, str))]
    test = metrics.get("test", {})
    rows += [
        (f"test {k} (%)", cli.percent(test[k]))
        for k in SCORE_KEYS if isinstance(test.get(k), float)
    ]
    rows.append(("checkpoint", result["checkpoint"]))
    return f"warm-up ({result['baseline']})", ["field", "value"], rows
