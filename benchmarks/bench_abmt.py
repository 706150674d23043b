"""ABMT on synthetic UDA: the source-only two-branch model (direct transfer) vs after ABMT's
mean teaching on the target, both evaluated on the target's test split.

    reidkit synth --out /tmp/abmt/source --ids 80 --cameras 3 --images-per-id 8 --size 64x32 \
        --seed 11 --camera-gap 0.3
    reidkit synth --out /tmp/abmt/target (same, --seed 22 --camera-gap 0.6)
    flock /tmp/reidkit-cpu.lock python benchmarks/bench_abmt.py --source-root /tmp/abmt/source \
        --data-root /tmp/abmt/target [--source-epochs 8] [--epochs 8] [--iters 20] [--eps 0.45]

Prints one JSON object: target mAP / Rank-1 (%) after the source stage and after ABMT, and the
wall time of each stage.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from reidkit import log
from reidkit.stages.warmup import run_warmup, warmup_config


def main() -> None:
    """Run one UDA warm-up (source stage, then ABMT) and report both evaluations."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source-root", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-abmt"))
    parser.add_argument("--source-epochs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--ema", type=float, default=0.97)
    parser.add_argument("--eps", type=float, default=0.45)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--arch", default="resnet18")
    args = parser.parse_args()
    torch.set_num_threads(2)
    log.set_quiet(True)
    assert args.epochs % args.source_epochs == 0, "evaluate at the end of both stages"
    config = warmup_config(
        None,
        dataset="market",
        data_root=args.data_root,
        source="market",
        source_root=args.source_root,
        out=args.out,
        overwrite=True,
        baseline="abmt",
        arch=args.arch,
        pretrained="none",
        size=(64, 32),
        device="cpu",
        workers=0,
        batch_size=args.batch_size,
        num_instances=4,
        eps=args.eps,
        iters=args.iters,
        epochs=args.epochs,
        ema=args.ema,
        source_epochs=args.source_epochs,
        source_iters=args.iters,
        source_batch_size=args.batch_size,
        source_milestones=(),
        eval_every=args.source_epochs,
    )
    began = time.monotonic()
    result = run_warmup(config)
    history = result["history"]
    evaluated = [h for h in history if "test" in h]
    seconds = {p: sum(h["seconds"] for h in history if h["phase"] == p) for p in ("source", "abmt")}
    report = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "source_only": _scores(evaluated[0]),
        "abmt": _scores(evaluated[-1]),
        "clusters": [h.get("clusters") for h in history if h["phase"] == "abmt"],
        "seconds": {
            **{k: round(v, 1) for k, v in seconds.items()},
            "total": round(time.monotonic() - began, 1),
        },
    }
    print(json.dumps(report, indent=1, default=str))


def _scores(entry: dict) -> dict[str, float]:
    return {k: round(100 * entry["test"][k], 1) for k in ("mAP", "rank1")}


if __name__ == "__main__":
    main()
