"""Oracle-label diagnostic: ICE or MMCL trained with the true identities in place of their pseudo
labels (ICE's DBSCAN clusters, MMCL's MPLP positives) on a labelled set such as `reidkit synth`.

    python benchmarks/diag_oracle_labels.py --data-root /tmp/synth-default --baseline ice
        [--labels true|pseudo] [--epochs 6] [--iters 50] [--size 64x32] [--ema 0.9]

With `--labels true` the losses see perfect labels: a flat test mAP means the loss or its
schedule cannot learn; a rising one means a failing real run is down to its labels. Every epoch
also prints how good the real pseudo labels are (ICE: clusters, outliers and NMI against the true
ids; MMCL: precision and size of the MPLP positive sets), whichever labels are trained on.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from bench_warmup import short_settings  # sibling script (its folder is on sys.path)
from sklearn.metrics import normalized_mutual_info_score

import reidkit.baselines.ice as ice
import reidkit.baselines.mmcl as mmcl
from reidkit.data.datasets import load_dataset
from reidkit.device import seed_everything
from reidkit.stages.warmup import run_warmup, warmup_config


def patch_ice(pids: np.ndarray, use_true: bool) -> None:
    """Replace ICE's clustering by the true ids (or keep it), reporting the real clustering."""
    real_cluster = ice.cluster
    true_labels = np.unique(pids, return_inverse=True)[1]

    def labels(features: torch.Tensor, config: object) -> np.ndarray:
        real = real_cluster(features, config)
        kept = real >= 0
        nmi = normalized_mutual_info_score(true_labels[kept], real[kept]) if kept.any() else 0.0
        print(
            f"  pseudo labels: {len(np.unique(real[kept]))} clusters for "
            f"{len(np.unique(pids))} ids, outliers {(~kept).mean():.2f}, NMI {nmi:.2f}",
            flush=True,
        )
        return true_labels if use_true else real

    ice.cluster = labels


def patch_mmcl(pids: np.ndarray, use_true: bool) -> None:
    """Replace MMCL's MPLP positives by the same-identity rows (or keep them), reporting MPLP's."""
    real_mplp = mmcl.mplp_labels
    ids = torch.as_tensor(pids)
    seen: list[tuple[float, float]] = []

    def positives(memory: torch.Tensor, indices: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        real = real_mplp(memory, indices, *args, **kwargs)
        truth = (ids[indices.cpu()].unsqueeze(1) == ids.unsqueeze(0)).to(real.device)
        marked = real.sum().item()
        seen.append(((real & truth).sum().item() / marked, marked / len(real)))
        if len(seen) % 50 == 0:
            precision, size = np.asarray(seen[-50:], dtype=float).mean(0)
            print(f"  MPLP positives: precision {precision:.2f}, {size:.1f} per image", flush=True)
        return truth if use_true else real

    mmcl.mplp_labels = positives


def main() -> None:
    """Train one baseline with true or pseudo labels and print the test mAP."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--baseline", choices=["ice", "mmcl"], default="ice")
    parser.add_argument("--labels", choices=["true", "pseudo"], default="true")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--size", default="64x32")
    parser.add_argument("--ema", type=float, help="ICE momentum (default: 1 - 5 / iterations)")
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/diag-oracle"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    dataset = load_dataset("market", args.data_root)
    pids = np.asarray([r.pid for r in dataset.train])
    patch = patch_ice if args.baseline == "ice" else patch_mmcl
    patch(pids, args.labels == "true")
    settings = short_settings(args.baseline, args.epochs, args.iters)
    if args.ema is not None:
        settings["ema"] = args.ema
    seed_everything(1)
    config = warmup_config(
        None,
        dataset="market",
        data_root=args.data_root,
        out=args.out / f"{args.baseline}-{args.labels}",
        baseline=args.baseline,
        arch="resnet18",
        pretrained="none",
        size=tuple(int(v) for v in args.size.split("x")),
        epochs=args.epochs,
        eval_every=args.eval_every,
        device="cpu",
        workers=0,
        overwrite=True,
        **settings,
    )
    began = time.monotonic()
    test = run_warmup(config)["metrics"]["test"]
    print(
        f"{args.baseline} with {args.labels} labels, {settings}: {args.epochs} epochs in "
        f"{time.monotonic() - began:.0f} s: test mAP {100 * test['mAP']:.1f} "
        f"rank1 {100 * test['rank1']:.1f}"
    )


if __name__ == "__main__":
    main()
