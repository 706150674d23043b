"""DomainMix in miniature: train on a labelled synthetic set A plus an unlabelled set B, test
directly on a third set C that no row trains on (the paper's protocol). Rows: the untrained
network; synthetic-only (supervised on A for the whole budget, DomainMix's own source loss and
optimiser); DirectMix (`--domain-loss none`); DomainMix (domain balance).

    reidkit synth --out /tmp/dm/A --ids 80 --cameras 3 --images-per-id 8 --size 64x32 \
        --seed 11 --camera-gap 0.3
    reidkit synth --out /tmp/dm/B (same, --seed 22 --camera-gap 1.0)
    reidkit synth --out /tmp/dm/C (same, --seed 33 --camera-gap 0.6)
    python benchmarks/bench_domainmix.py --a /tmp/dm/A --b /tmp/dm/B --c /tmp/dm/C \
        [--source-epochs 4] [--epochs 8] [--iters 20] [--relabel once] [--seeds 1 2 3]

Prints one JSON object: mAP / Rank-1 (%) on C's test split per row and seed, their mean, and the
seconds of each run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from reidkit import log
from reidkit.data.datasets import load_dataset
from reidkit.evaluation.engine import evaluate_model
from reidkit.models.loading import load_identity_encoder
from reidkit.stages.warmup import initial_encoder, run_warmup, warmup_config

ROWS = ("untrained", "synthetic-only", "DirectMix", "DomainMix")


def common(args: argparse.Namespace, seed: int, out: Path) -> dict[str, Any]:
    """Settings every trained row shares (small CPU budget, random init)."""
    return dict(arch="resnet18", pretrained="none", size=(64, 32), device="cpu", workers=0,
                batch_size=args.batch_size, num_instances=4, iters=args.iters, seed=seed,
                out=out, overwrite=True, label_smoothing=0.0, triplet_margin=0.3, head="bnneck")


def train(row: str, args: argparse.Namespace, seed: int) -> Path:
    """One row's warm-up; returns its checkpoint."""
    out = args.out / f"{row}-{seed}"
    if row == "synthetic-only":
        config = warmup_config(
            None, dataset="market", data_root=args.a, baseline="supervised",
            epochs=args.source_epochs + args.epochs, lr=3.5e-4, lr_steps=(), amsgrad=False,
            erasing=0.5, **common(args, seed, out))
    else:
        config = warmup_config(
            None, dataset="market", data_root=args.b, baseline="domainmix", source="market",
            source_root=args.a, source_epochs=args.source_epochs, source_iters=args.iters,
            source_batch_size=args.batch_size, epochs=args.epochs,
            adversarial_start=args.epochs // 2, milestones=(), eps=args.eps, rho=None,
            k1=args.k1, k2=6, min_size=4, max_size=0, relabel=args.relabel,
            domain_loss="none" if row == "DirectMix" else "db", **common(args, seed, out))
    run_warmup(config)
    return out / "warmup.pt"


def scores(model: torch.nn.Module, test_root: Path) -> dict[str, float]:
    """mAP and Rank-1 (%) on the unseen set's query / gallery."""
    result = evaluate_model(model, load_dataset("market", test_root), size=(64, 32),
                            device=torch.device("cpu"), batch_size=64)
    return {k: round(100 * result[k], 1) for k in ("mAP", "rank1")}


def main() -> None:
    """Every row for every seed, tested on C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--a", type=Path, required=True, help="labelled synthetic set")
    parser.add_argument("--b", type=Path, required=True, help="unlabelled set")
    parser.add_argument("--c", type=Path, required=True, help="unseen test set")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-domainmix"))
    parser.add_argument("--source-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eps", type=float, default=0.5)
    parser.add_argument("--k1", type=int, default=20)
    parser.add_argument("--relabel", default="once", help="once (paper) or epoch (the code)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    torch.set_num_threads(2)
    log.set_quiet(True)
    table: dict[str, list[dict[str, float]]] = {row: [] for row in args.rows}
    seconds: dict[str, list[float]] = {row: [] for row in args.rows}
    for seed in args.seeds:
        for row in args.rows:
            began = time.monotonic()
            if row == "untrained":
                cfg = warmup_config(None, data_root=args.a, baseline="supervised", seed=seed,
                                    arch="resnet18", head="bnneck")
                model = initial_encoder(cfg).eval()
            else:
                model = load_identity_encoder(train(row, args, seed))[0]
            table[row].append(scores(model, args.c))
            seconds[row].append(round(time.monotonic() - began, 1))
    report = {
        "settings": {k: str(v) for k, v in vars(args).items() if k != "out"},
        "per_seed": table,
        "mean": {row: {k: round(statistics.mean(s[k] for s in runs), 1) for k in ("mAP", "rank1")}
                 for row, runs in table.items()},
        "seconds": seconds,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
