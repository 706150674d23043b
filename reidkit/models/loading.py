"""Load E_id from any checkpoint a user may hold: a reidkit stage checkpoint, a plain JVTC/GCL
state_dict, a reference GCL `id_*.pt` / `model_best.pth`, or an ICE checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit.errors import CheckpointError
from reidkit.models.act_net import act_encoder_for_state, is_act_state
from reidkit.models.generator import Generator, id_chunk_of
from reidkit.models.identity import IdentityEncoder, encoder_shape
from reidkit.models.scr import SCREncoder, scr_arch_of
from reidkit.models.structure import StructureEncoder
from reidkit.models.two_branch import BRANCH_M_KEY, TwoBranchEncoder
from reidkit.runs import Handoff, is_stage_checkpoint, load_checkpoint_file, read_handoff

try:  # NumPy ≥ 2
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import scalar as _np_scalar

# Plain numbers pickled as NumPy scalars (ICE/SpCL save `best_mAP` as np.float64): safe to allow
# under weights_only, they rebuild a number and nothing else.
_NUMPY_NUMBERS = [_np_scalar, np.dtype] + [
    type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)
]
_STEM = "conv1.weight"
_LAST = "layer4.0.conv1.weight"


def _strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def _encoder_prefix(state: dict[str, Any]) -> str:
    """The key prefix under which a ResNet encoder sits (`id_a.`, `module.model.`...), or ''."""
    if _STEM in state:
        return ""
    found = sorted(
        k[: -len(_STEM)] for k in state if k.endswith(_STEM) and k[: -len(_STEM)] + _LAST in state
    )
    return found[0] if len(found) == 1 else ""


def _from_ice(state: dict[str, Any]) -> dict[str, Any]:
    """ICE/SpCL keys (`base.N.*` of an nn.Sequential stem, `bottleneck.*`) → E_id names with a BN
    neck. The Sequential's indices are read from the keys (with or without a ReLU entry): the stem
    conv is the 4-D weight, its BN the entry with running stats, then the 4 residual stages."""
    by_index: dict[str, dict[str, Any]] = {}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "base" and len(parts) > 2 and parts[1].isdigit():
            by_index.setdefault(parts[1], {})[".".join(parts[2:])] = value
        elif parts[0] == "base":
            out[".".join(parts[1:])] = value
        elif parts[0] in ("bottleneck", "feat_bn"):
            out[".".join(["feat_bn", *parts[1:]])] = value
        elif key == "gap.p":  # Cluster-Contrast's learned GeM exponent
            out["pool.p"] = value
    stages = sorted((i for i, sub in by_index.items() if any(k[0].isdigit() for k in sub)), key=int)
    names = dict(zip(stages, ("layer1", "layer2", "layer3", "layer4"), strict=False))
    for index, sub in by_index.items():
        if index not in names and "running_mean" in sub:
            names[index] = "bn1"
        elif index not in names and getattr(sub.get("weight"), "ndim", 0) == 4:
            names[index] = "conv1"
        if index in names:
            out.update({f"{names[index]}.{k}": v for k, v in sub.items()})
    return out


def identity_state_dict(obj: Any, path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """Find the E_id state dict inside a loaded checkpoint; returns it and the format's name."""
    if is_stage_checkpoint(obj):
        models = obj.get("models", {})
        if "E_id" not in models:
            raise CheckpointError(f"stage checkpoint '{obj['stage']}' holds no E_id", path=path)
        return models["E_id"], f"reidkit:{obj['stage']}"
    if not isinstance(obj, dict):
        raise CheckpointError("checkpoint is not a state dict", path=path)
    for key, kind in (("id", "gcl-id"), ("state_dict", "state_dict"), ("model", "model")):
        if isinstance(obj.get(key), dict):
            obj, fmt = obj[key], kind
            break
    else:
        fmt = "state_dict"
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    state = _strip_prefix(state, "module.")
    if any(k.startswith("base.") for k in state):
        return _from_ice(state), "ice"
    prefix = _encoder_prefix(state)
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        fmt = f"{fmt} (under '{prefix}')"
    return state, fmt


def encoder_for_state(state: dict[str, torch.Tensor]) -> IdentityEncoder:
    """An untrained E_id of the shape `state` holds: each stage rebuilds the encoder it is given."""
    shape = encoder_shape(state)
    if (scr := scr_arch_of(state)) is not None:  # SCR's three-branch E_id (layer4 per branch)
        return SCREncoder(scr)
    if BRANCH_M_KEY in state:  # ABMT's asymmetric two-branch E_id
        return TwoBranchEncoder(shape.arch)
    if is_act_state(state):  # ACT's standard-stride encoder (x1 retrieval, x2 branch)
        return act_encoder_for_state(state)
    return IdentityEncoder(shape.arch, embed_dim=shape.embed_dim, pooling=shape.pooling)


def identity_encoder_from_state(state: dict[str, torch.Tensor],
                                path: str | Path | None = None) -> IdentityEncoder:
    """E_id rebuilt from a reidkit stage checkpoint's state dict, loaded strictly (a missing or
    unknown tensor is a CheckpointError, never a silent partial load)."""
    model = encoder_for_state(state)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unknown = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unknown or wrong:
        raise CheckpointError(
            f"E_id weights do not form a {model.arch} encoder "
            f"(missing {missing[:4]}, unknown {unknown[:4]}, wrong shape {wrong[:4]})",
            path=path,
            fix="the checkpoint is damaged or not from reidkit; re-run the stage that wrote it",
        )
    model.load_state_dict(state)
    return model


def _read(path: str | Path) -> Any:
    with torch.serialization.safe_globals(_NUMPY_NUMBERS):
        return load_checkpoint_file(path)


def _encoder_from(obj: Any, path: str | Path) -> tuple[IdentityEncoder, dict[str, Any]]:
    state, fmt = identity_state_dict(obj, path)
    last = "layer4.0.conv1.weight" in state or scr_arch_of(state) is not None  # SCR: per branch
    if "conv1.weight" not in state or not last:
        raise CheckpointError(
            f"no ResNet identity-encoder weights found (format '{fmt}', {len(state)} tensors; "
            f"first keys: {list(state)[:4]})",
            path=path,
            fix="pass a reidkit stage checkpoint, a JVTC/GCL E_id state_dict, "
            "a GCL id_*.pt / model_best.pth, or an ICE checkpoint",
        )
    model = encoder_for_state(state)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = sorted(set(own) - set(usable))
    if missing:
        raise CheckpointError(
            f"checkpoint lacks {len(missing)} E_id tensors (e.g. {missing[:4]})",
            path=path,
            fix="the file is not a complete identity encoder; check that it is the right file",
        )
    model.load_state_dict(usable)
    model.eval()
    staged = is_stage_checkpoint(obj)
    info = {
        "format": fmt,
        "arch": model.arch,
        "embed_dim": model.embed_dim,
        "loaded": len(usable),
        "ignored": sorted(set(state) - set(usable)),
        "stage": obj["stage"] if staged else None,
        "handoff": read_handoff(obj) if staged else Handoff(),
    }
    return model, info


def load_identity_encoder(path: str | Path) -> tuple[IdentityEncoder, dict[str, Any]]:
    """Build E_id from a checkpoint, refusing one from which the backbone would not load.

    Returns the model (eval mode, CPU) and info: format, arch, parameters loaded, ignored keys,
    the stage name and the stage's `Handoff` (an empty one for files not written by reidkit).
    """
    return _encoder_from(_read(path), path)


def load_generator(path: Path) -> tuple[dict[str, nn.Module], Handoff]:
    """E_id, E_str and G (eval mode) from a gen-warmup, train-joint or imported checkpoint, and
    the checkpoint's hand-off."""
    obj = _read(path)
    E_id, info = _encoder_from(obj, path)
    models = obj["models"] if info["stage"] else {}
    if "G" not in models or "E_str" not in models:
        stage = info["stage"] or "a plain E_id state dict"
        raise CheckpointError(
            f"checkpoint holds no generator ({stage})", path=path,
            fix="pass gen-warmup.pt, train-joint.pt or a file written by `reidkit import`",
        )
    G = Generator(id_chunk=id_chunk_of(models["G"]))
    if G.part_dim != E_id.part_dim:
        raise CheckpointError("the generator does not fit the checkpoint's E_id", path=path)
    E_str = StructureEncoder()
    G.load_state_dict(models["G"])
    E_str.load_state_dict(models["E_str"])
    return {"E_id": E_id.eval(), "E_str": E_str.eval(), "G": G.eval()}, info["handoff"]
