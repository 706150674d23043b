"""Throughput of `reidkit synth` (images/s) and of `reidkit mesh --smpl-params` on its output
(images/s, each image = 8 grey renders at 256x128), on CPU (or CUDA with --device cuda).

    .venv/bin/python benchmarks/bench_mesh.py [--ids 100] [--images-per-id 16] [--threads 2]

With the defaults the synth part is exactly `reidkit synth`'s default dataset (1,600 images).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from reidkit import log
from reidkit.stages.mesh import run_mesh, synth_mesh_config
from reidkit.stages.synth import SynthConfig, run_synth


def main() -> None:
    """Generate a synthetic dataset, render its meshes, print both rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=100)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--images-per-id", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mesh-batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log.set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synth"
        start, cpu = time.perf_counter(), time.process_time()
        synth = run_synth(
            SynthConfig(
                out=data, ids=args.ids, cameras=args.cameras, images_per_id=args.images_per_id
            )
        )
        synth_s, synth_cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"synth: {synth['images']} images (128x64) in {synth_s:.1f} s = "
            f"{synth['images'] / synth_s:.1f} images/s (process CPU time {synth_cpu:.1f} s)"
        )
        start, cpu = time.perf_counter(), time.process_time()
        mesh = run_mesh(synth_mesh_config(data, Path(tmp) / "mesh", batch_size=args.mesh_batch,
                                          device=args.device))
        mesh_s, mesh_cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"mesh --smpl-params: {mesh['rendered']} images x 8 renders (256x128) in "
            f"{mesh_s:.1f} s = {mesh['rendered'] / mesh_s:.1f} images/s "
            f"({8 * mesh['rendered'] / mesh_s:.1f} renders/s), device {args.device}, "
            f"{args.threads} threads, process CPU time {mesh_cpu:.1f} s"
        )


if __name__ == "__main__":
    main()
