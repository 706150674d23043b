"""Time one train-joint iteration (GAN forward, D step, one backward of L_all, memory update) and
the memory-bank sampling + contrastive loss alone, vectorised vs the reference's per-sample loop.

    .venv/bin/python benchmarks/bench_joint_step.py [--arch resnet50] [--batch 16] [--iters 3]
        [--size 256x128] [--device cpu|cuda] [--amp]

Market-sized memory (12,936 entries, ~520 pseudo identities, K = 8192). Prints its figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from reidkit.device import autocast
from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.memory import MemoryBank
from reidkit.models.structure import StructureEncoder
from reidkit.train.contrastive import view_invariant_losses
from reidkit.train.distributed import DistContext
from reidkit.train.joint_step import StepSettings, joint_step


def reference_loop_loss(f, f_new, memory, indexes, k, tau):
    """The authors' Memory.forward sampling (one Python iteration per sample), for comparison."""
    bank, labels = memory.features, memory.labels
    batch_labels = labels[indexes]
    mat, mat_sim = f @ bank.t(), f_new @ bank.t()
    l_pos = (f_new * bank[indexes]).sum(1, keepdim=True)
    pos_wogan, pos, negs = [], [], []
    for i in range(f.shape[0]):
        same = labels == batch_labels[i]
        row = mat[i, same]
        pos_wogan.append(row[torch.randperm(row.numel())[:1]])
        row = mat_sim[i, same]
        pos.append(row[torch.randperm(row.numel())[:1]])
        row = mat_sim[i, labels != batch_labels[i]]
        negs.append(row[torch.randperm(row.numel())[:k]])
    negs = torch.stack(negs)
    target = torch.zeros(f.shape[0], dtype=torch.long, device=f.device)
    return sum(F.cross_entropy(torch.cat([p, negs], 1) / tau, target)
               for p in (l_pos, torch.stack(pos), torch.stack(pos_wogan)))


def timed(fn, repeats: int, device: torch.device) -> list[float]:
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - start)
    return out


def time_step(args: argparse.Namespace, device: torch.device, memory: MemoryBank,
              gen: torch.Generator) -> None:
    """Median wall time of full joint iterations on random images and meshes."""
    h, w = (int(v) for v in args.size.split("x"))
    E_id = IdentityEncoder(args.arch)
    models = {"E_id": E_id, "E_str": StructureEncoder(),
              "G": Generator(id_chunk=E_id.part_dim // 4), "D": Discriminator()}
    for m in models.values():
        m.to(device).train()
    opts = {
        "id": torch.optim.SGD(E_id.parameters(), lr=3.5e-4, momentum=0.9, nesterov=True,
                              weight_decay=5e-4),
        "gen": torch.optim.Adam(list(models["E_str"].parameters())
                                + list(models["G"].parameters()), lr=1e-4, betas=(0.0, 0.999)),
        "dis": torch.optim.Adam(models["D"].parameters(), lr=1e-4, betas=(0.0, 0.999)),
    }
    ctx = DistContext(0, 1, 0, device)
    settings = StepSettings(ctx=lambda: autocast(device, args.amp))
    b, n = args.batch, len(memory)

    def step():
        batch = (torch.randn(b, 3, h, w, device=device), torch.randn(b, 1, h, w, device=device),
                 torch.randn(b, 1, h, w, device=device), torch.randperm(n, device=device)[:b])
        joint_step(models, opts, memory, batch, gen, settings, ctx)

    times = timed(step, args.iters + 1, device)[1:]
    per = statistics.median(times)
    print(f"joint iteration ({args.arch}, batch {b}, {h}x{w}, {device}"
          f"{', bf16' if args.amp else ''}, {torch.get_num_threads()} threads): "
          f"median {per:.2f} s over {len(times)} ({', '.join(f'{t:.2f}' for t in times)}), "
          f"{b / per:.1f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50", help="E_id backbone")
    parser.add_argument("--batch", type=int, default=16, help="images per iteration")
    parser.add_argument("--size", default="256x128", help="HEIGHTxWIDTH")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations (after 1 warm-up)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--sampling-only", action="store_true",
                        help="time only the memory sampling + losses (no networks)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    n, b = 12936, args.batch
    memory = MemoryBank(n).to(device)
    memory.init_features(torch.randn(n, 512, device=device))
    memory.set_labels(torch.randint(0, 520, (n,), device=device))
    gen = torch.Generator(device=device).manual_seed(0)
    if not args.sampling_only:
        time_step(args, device, memory, gen)
    f = F.normalize(torch.randn(b, 512, device=device), dim=1)
    f_new = F.normalize(torch.randn(b, 512, device=device), dim=1)
    idx = torch.randperm(n, device=device)[:b]
    vec = timed(lambda: view_invariant_losses(f, f_new, memory, idx, gen, variant="reference"),
                20, device)
    loop = timed(lambda: reference_loop_loss(f, f_new, memory, idx, 8192, 0.04), 5, device)
    print(f"memory sampling + 3 losses, batch {b}, N {n}, K 8192: vectorised "
          f"{statistics.median(vec) * 1e3:.1f} ms, per-sample loop (reference) "
          f"{statistics.median(loop) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
