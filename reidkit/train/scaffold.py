"""What the three training loops (warm-up, gen-warmup, train-joint) share: which settings a resumed
run takes from its checkpoint, the check that it resumes on the same data, loader workers, and
state dicts moved for saving and restoring."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from reidkit.config import resolve_config
from reidkit.errors import CheckpointError, ConfigError

C = TypeVar("C")


def resume_config(config: C, saved: dict[str, Any], may_change: Collection[str], path: Path, *,
                  given: Collection[str] | None = None,
                  fix: str = "drop the option to resume as it was") -> C:
    """The config a resumed run continues with: the saved run's values, and the fields of
    `may_change` given now; any other setting given now with another value than the run's is
    refused. `given` names the fields set explicitly (None: those that differ from the dataclass
    default, since a field left out holds its default)."""
    cls = type(config)
    names = [f.name for f in dataclasses.fields(cls)]
    reference = resolve_config(cls, None, **{k: v for k, v in saved.items() if k in names})
    defaults = cls()
    changed = {}
    for name in names:
        now, then = getattr(config, name), getattr(reference, name)
        explicit = name in given if given is not None else now != getattr(defaults, name)
        if now == then or not explicit:
            continue
        if name not in may_change:
            shown = ",".join(map(str, now)) if isinstance(now, tuple) else now
            raise ConfigError(
                f"--{name.replace('_', '-')} {shown} differs from the run being resumed ({then})",
                path=path, fix=fix)
        changed[name] = now
    return dataclasses.replace(reference, **changed)


def check_same_data(state: dict[str, Any], fingerprint: dict[str, Any], path: Path) -> None:
    """Refuse to resume a checkpoint on another dataset than the one it was made on."""
    if state["dataset"].get("sha256") != fingerprint["sha256"]:
        raise CheckpointError(
            "the dataset differs from the one the run was started with", path=path,
            fix="resume with the same data, or start a new run")


def loader_workers(requested: int, device: torch.device) -> int:
    """Loader processes: as requested, else none on CPU (the model is the bottleneck) and up to
    8 on GPU."""
    if requested >= 0:
        return requested
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict on the CPU, detached: what a checkpoint stores."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def states_to(models: dict[str, dict[str, torch.Tensor]],
              device: Any) -> dict[str, dict[str, torch.Tensor]]:
    """Saved state dicts moved to `device` (to restore) or to the CPU (to save)."""
    return {name: {k: v.detach().to(device) for k, v in state.items()}
            for name, state in models.items()}


def optimizer_to(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Move a restored optimiser's moment buffers to the device its parameters train on."""
    for state in opt.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)
