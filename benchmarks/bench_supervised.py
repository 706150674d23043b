"""SCR against the single-branch supervised baseline on a small synthetic set (CPU): test mAP / R1
and wall time of `reidkit warmup --baseline supervised`, one run per arch, same epochs, schedule,
batches and seed, from random weights.

    reidkit synth --out /tmp/scr_data --ids 40 --images-per-id 8 --size 128x64 --seed 3
    flock /tmp/reidkit-cpu.lock python benchmarks/bench_supervised.py --data-root /tmp/scr_data \
        [--archs scr-resnet18,resnet18] [--epochs 10] [--iters 20] [--size 96x48]
        [--out /tmp/bench-supervised]

SCR's schedule scaled to the run: lr ×0.1 at 60 % and 80 % of the epochs (its 300 and 400 of
500). Prints one line per arch (untrained and trained mAP / R1; training seconds, the epochs'
own, and wall seconds, which add the per-epoch checkpoints and the final evaluation) and a JSON
summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from reidkit.data.datasets import load_dataset
from reidkit.evaluation.engine import evaluate_model
from reidkit.stages.warmup import initial_encoder, run_warmup, warmup_config


def main() -> None:
    """Run the measurement and print one line per arch (and a JSON summary)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--archs", default="scr-resnet18,resnet18")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--iters", type=int, default=20, help="0 = one pass over the ids")
    parser.add_argument("--size", default="96x48")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-supervised"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    steps = (round(0.6 * args.epochs), round(0.8 * args.epochs))
    dataset = load_dataset("market", args.data_root)
    rows = []
    for arch in args.archs.split(","):
        config = warmup_config(
            None, dataset="market", data_root=args.data_root, out=args.out / arch,
            baseline="supervised", arch=arch, pretrained="none", size=size, epochs=args.epochs,
            iters=args.iters, batch_size=args.batch_size, lr_steps=steps, seed=args.seed,
            device="cpu", workers=0, overwrite=True, eval_every=args.epochs,
        )
        untrained = evaluate_model(initial_encoder(config), dataset, size=size, device="cpu")
        began = time.monotonic()
        result = run_warmup(config)
        seconds = time.monotonic() - began
        test = result["metrics"]["test"]
        training = sum(h["seconds"] for h in result["history"])
        rows.append({"arch": arch, "untrained_mAP": untrained["mAP"],
                     "untrained_rank1": untrained["rank1"], "mAP": test["mAP"],
                     "rank1": test["rank1"], "feature_dim": test["feature_dim"],
                     "train_seconds": round(training, 1), "wall_seconds": round(seconds, 1),
                     "loss": result["metrics"]["loss"]})
        print(f"{arch}: untrained {100 * untrained['mAP']:.1f} / {100 * untrained['rank1']:.1f}"
              f" -> {100 * test['mAP']:.1f} / {100 * test['rank1']:.1f} mAP / R1 %"
              f" ({test['feature_dim']}-d; {args.epochs} epochs: {training:.0f} s training,"
              f" {seconds:.0f} s wall)", flush=True)
    print(json.dumps({"epochs": args.epochs, "iters": args.iters, "size": size, "lr_steps": steps,
                      "rows": rows}))


if __name__ == "__main__":
    main()
