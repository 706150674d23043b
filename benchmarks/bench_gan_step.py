"""Time one GAN training iteration (forward E_id/E_str/G/D, D step with R1, G backward, both
optimiser steps) at batch 16, 256×128, with the paper's ResNet-50 E_id frozen as in gen-warmup.

Prints seconds per iteration and images/s for:
- `reidkit`: `reidkit.train.gan.gan_step` as gen-warmup runs it;
- `reference-style`: the same networks driven the way the authors' trainer does it (E_id weights
  still requiring grad, every E_id / E_str / G call separate, f_id_cyc computed, D(real) and its
  R1 penalty recomputed for each of the three fakes) — the baseline "ours must not be slower";
- on CUDA also fp32 vs bf16 autocast vs bf16 + channels-last.

The CPU allocator is tuned as the `reidkit` CLI tunes it (`reidkit.device.tune_cpu_allocator`)
unless `--no-allocator-tuning` is given; peak resident memory is printed at the end.

    python benchmarks/bench_gan_step.py [--iters 3] [--batch 16] [--size 256x128] [--skip-reference]
        [--no-allocator-tuning]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time

import torch

from reidkit.device import autocast, tune_cpu_allocator
from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.structure import StructureEncoder
from reidkit.train.gan import gan_step, set_requires_grad


def build(device, channels_last=False):
    torch.manual_seed(0)
    models = {"E_id": IdentityEncoder("resnet50").eval(), "E_str": StructureEncoder(),
              "G": Generator(2048), "D": Discriminator()}
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in models.values():
        m.to(device=device, memory_format=fmt)
    kw = dict(lr=1e-4, betas=(0.0, 0.999), weight_decay=5e-4)
    generator_params = list(models["E_str"].parameters()) + list(models["G"].parameters())
    opt_g = torch.optim.Adam(generator_params, **kw)
    opt_d = torch.optim.Adam(models["D"].parameters(), **kw)
    return models, opt_g, opt_d


def reference_style_step(models, opt_g, opt_d, batch, ctx):
    """The authors' order and redundancy, with the same networks (for a like-for-like baseline)."""
    E_id, E_str, G, D = (models[k] for k in ("E_id", "E_str", "G", "D"))
    x, m_ori, m_new = batch
    l1 = lambda a, b: (a - b.detach()).abs().mean()  # noqa: E731
    with ctx():
        s_ori, s_new = E_str(m_ori), E_str(m_new)
        f_id, _ = E_id(x)
        x_rec, x_nv = G(s_ori, f_id), G(s_new, f_id)
        f_rec, _ = E_id(x_rec)
        f_nv, _ = E_id(x_nv)
        x_cyc = G(s_ori, f_nv)
        f_cyc, _ = E_id(x_cyc)
    opt_d.zero_grad()
    loss_d = 0
    for fake in (x_rec, x_nv, x_cyc):
        real = x.detach().requires_grad_()
        with ctx():
            outs0, outs1 = D(fake.detach()), D(real)
        for o0, o1 in zip(outs0, outs1, strict=True):
            loss_d = loss_d + (o0**2).mean() + ((o1 - 1) ** 2).mean()
            (g,) = torch.autograd.grad(o1.sum(), real, create_graph=True)
            loss_d = loss_d + 0.01 * g.pow(2).flatten(1).sum(1).mean()
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    with ctx():
        adv = sum(2 * ((o - 1) ** 2).mean() for f in (x_rec, x_nv, x_cyc) for o in D(f))
        total = (5 * l1(x_rec, x) + 5 * l1(x_cyc, x) + 5 * l1(f_rec, f_id) + 5 * l1(f_cyc, f_id)
                 + adv)
    total.backward()
    opt_g.step()


def batch_on(device, b, h, w, channels_last=False):
    g = torch.Generator().manual_seed(1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [t.to(device).contiguous(memory_format=fmt) for t in
            (torch.randn(b, 3, h, w, generator=g), torch.rand(b, 1, h, w, generator=g) * 2 - 1,
             torch.rand(b, 1, h, w, generator=g) * 2 - 1)]


def time_it(step, iters, device):
    """(wall seconds, process CPU seconds) per iteration after one warm-up iteration."""
    step()  # warm-up (allocations, cuDNN autotune)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters, (time.process_time() - cpu) / iters


def run(device, label, b, h, w, iters, *, amp=False, channels_last=False, reference=False):
    models, opt_g, opt_d = build(device, channels_last)
    batch = batch_on(device, b, h, w, channels_last)
    ctx = (lambda: autocast(device, amp)) if amp else contextlib.nullcontext
    if reference:
        step = lambda: reference_style_step(models, opt_g, opt_d, batch, ctx)  # noqa: E731
    else:
        set_requires_grad(models["E_id"], False)
        step = lambda: gan_step(models, opt_g, opt_d, batch, ctx=ctx)  # noqa: E731
    sec, cpu = time_it(step, iters, device)
    print(f"{label:<34} {sec:8.2f} s/iter   {b / sec:8.2f} images/s   "
          f"{cpu:8.2f} CPU-s/iter", flush=True)
    return sec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", default="256x128")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--no-allocator-tuning", action="store_true")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    cpu = torch.device("cpu")
    tuned = not args.no_allocator_tuning and tune_cpu_allocator()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch}, "
          f"{h}x{w}, E_id resnet50 frozen, allocator tuned: {tuned}", flush=True)
    ours = run(cpu, "CPU reidkit gan_step", args.batch, h, w, args.iters)
    if not args.skip_reference:
        ref = run(cpu, "CPU reference-style step", args.batch, h, w, args.iters, reference=True)
        print(f"CPU speed-up over reference-style: {ref / ours:.2f}x")
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        iters = max(args.iters, 20)
        base = run(gpu, "CUDA fp32", args.batch, h, w, iters)
        run(gpu, "CUDA bf16 autocast", args.batch, h, w, iters, amp=True)
        fast = run(gpu, "CUDA bf16 + channels-last", args.batch, h, w, iters, amp=True,
                   channels_last=True)
        run(gpu, "CUDA reference-style fp32", args.batch, h, w, iters, reference=True)
        print(f"CUDA AMP + channels-last over fp32: {base / fast:.2f}x images/s")
    else:
        print("no CUDA device: GPU figures skipped")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak resident memory {peak:.2f} GB")


if __name__ == "__main__":
    main()
