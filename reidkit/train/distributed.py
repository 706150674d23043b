"""Data-parallel training under `torchrun`: process group from RANK/WORLD_SIZE/LOCAL_RANK,
parameter broadcast, gradient averaging, collectives for the memory bank and pseudo labels.

The models are kept in step the way DistributedDataParallel does it (same start parameters,
gradients averaged over ranks before every optimiser step), but with one flattened all-reduce
per module called explicitly after `backward`: the GAN step runs E_id four times and G three
times per iteration, backpropagates the generator loss through D and takes a double-backward
R1 penalty, a combination torch's DDP wrapper (one forward per backward, no autograd.grad)
does not support.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from reidkit.device import resolve_device


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, world size and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, clusters, evaluates and writes checkpoints."""
        return self.rank == 0


def init_distributed(device_spec: str = "auto") -> DistContext:
    """Join the process group torchrun describes in the environment (a no-op for one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec)
    if world <= 1:
        return DistContext(0, 1, 0, device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # rank 0 clusters and evaluates alone while the others wait: allow long waits
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    return DistContext(rank, world, local_rank, device)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (after the last collective)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.enabled:
        dist.barrier()


def broadcast_(tensor: torch.Tensor, ctx: DistContext, src: int = 0) -> torch.Tensor:
    """Overwrite `tensor` on every rank with rank `src`'s values (in place)."""
    if ctx.enabled:
        dist.broadcast(tensor, src)
    return tensor


def all_gather_cat(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate equally shaped per-rank tensors along dim 0, in rank order."""
    if not ctx.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's `obj` (plain Python values / CPU tensors), in rank order, on every rank."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average scalar logs over ranks (for the per-epoch progress line)."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    buf = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(buf)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, buf.tolist(), strict=True)}


def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's parameters and buffers (start of training, end of epoch)."""
    if not ctx.enabled:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, 0)


def average_gradients(modules: Iterable[nn.Module], ctx: DistContext) -> None:
    """All-reduce and average the gradients of each module, flattened into one buffer each.

    Parameters without a gradient on this rank contribute zeros so that every rank sends the
    same buffer layout.
    """
    if not ctx.enabled:
        return
    for module in modules:
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            continue
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= ctx.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n


def sync_batchnorm(module: nn.Module, ctx: DistContext) -> nn.Module:
    """SyncBatchNorm on multi-GPU runs, so small per-GPU batches keep global-batch statistics."""
    if ctx.enabled and ctx.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module
