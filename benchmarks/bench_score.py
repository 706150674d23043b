"""Throughput of FID activations (images/s through pytorch-fid's Inception at 299x299) on CPU and,
when present, CUDA; plus the FID and SSIM arithmetic. Prints its figures.

    python benchmarks/bench_score.py [--images 64] [--batch-size 32] [--threads N]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit import log
from reidkit.scoring.activations import compute_activations
from reidkit.scoring.fid import fid_from_activations
from reidkit.scoring.images import list_images
from reidkit.scoring.inception import build_inception, describe_network, find_weights
from reidkit.scoring.ssim import pair_scores


def _write_images(root: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    for k in range(count):
        pixels = rng.integers(0, 256, (256, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{k // 4:04d}_c{k % 4 + 1}s1_000000_01.jpg")
    return list_images(root)


def _time(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Time activations per device, FID from activations, and SSIM pairs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log.set_quiet(True)
    weights = find_weights(None, allow_untrained=True)
    info = describe_network(weights)
    model = build_inception(info)
    print(
        f"network: {'pt_inception weights' if info.trained else 'untrained (same cost)'}; "
        f"{args.images} images 256x128 -> 299x299, batch {args.batch_size}, "
        f"{args.threads} CPU threads"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_images(Path(tmp), args.images)
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            run = functools.partial(
                compute_activations, model, paths, batch_size=args.batch_size, device=device
            )
            if device == "cuda":
                run()  # warm-up: CUDA context and cuDNN autotuning
            print(f"FID activations {device}: {args.images / _time(run):8.1f} images/s")
        rng = np.random.default_rng(1)
        for n1, n2 in [(500, 5000), (3000, 5000)]:
            a = rng.random((n1, 2048), dtype=np.float32)
            b = rng.random((n2, 2048), dtype=np.float32)
            seconds = _time(functools.partial(fid_from_activations, a, b))
            print(f"FID from activations {n1} vs {n2} (2048-d): {seconds:.2f} s")
        pairs = np.array([(i, i + 1) for i in range(0, len(paths) - 1, 2)])
        seconds = _time(functools.partial(pair_scores, paths, pairs), repeat=2)
        print(f"SSIM grey 256x128: {len(pairs) / seconds:8.1f} pairs/s")


if __name__ == "__main__":
    main()
