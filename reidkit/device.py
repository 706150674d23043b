"""Device choice and mixed precision: `auto` takes CUDA when present, everything runs on CPU."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform

import torch

from reidkit.errors import ConfigError


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn `auto`, `cpu`, `cuda` or `cuda:N` into a device, refusing CUDA where there is none."""
    spec = (spec or "auto").lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device '{spec}'", fix="use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{spec}' asked for but CUDA is not available",
            fix="use --device cpu (or auto)",
        )
    return device


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 1 << 30
_ALLOCATOR_OPT_OUT = "REIDKIT_MALLOC_TUNING"


def tune_cpu_allocator() -> bool:
    """Keep freed CPU tensors in the process heap (glibc only; off with REIDKIT_MALLOC_TUNING=0).

    By default glibc serves every allocation over 32 MB with a fresh mmap and unmaps it on free,
    so each large activation of a CPU training step page-faults its memory in again (zeroed by
    the kernel): on the GAN step this alone doubles the time. Raising the mmap and trim
    thresholds lets freed blocks be reused; peak memory is unchanged, it is just not handed
    back to the system between steps. Returns whether the thresholds were set.
    """
    if os.environ.get(_ALLOCATOR_OPT_OUT, "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    )


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when `enabled`; a no-op elsewhere (CPU runs stay fp32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch RNGs."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
