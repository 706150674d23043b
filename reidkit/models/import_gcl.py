"""Import the authors' GCL checkpoints (`gen_*.pt`, `dis_*.pt`, `id_*.pt`, `model_best.pth`) into
reidkit's E_str, G, D and E_id by an explicit key map built from the reference module layout
(tests/data/gcl-official-state-dict.tsv). Every tensor is accounted for: unknown or missing keys
are an error listing them, never a silent partial load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from reidkit.errors import CheckpointError
from reidkit.runs import load_checkpoint_file

PARAMS = ("weight", "bias")
# The reference's AdaIN layers carry running_mean / running_var buffers that its forward never
# reads (it normalises with batch statistics of a reshaped view): accounted for, then dropped.
ADAIN_BUFFERS = ("running_mean", "running_var")


def _conv(ref: str, ours: str) -> dict[str, str]:
    return {f"{ref}.conv.{p}": f"{ours}.conv.{p}" for p in PARAMS}


def gen_key_map() -> dict[str, tuple[str, str]]:
    """Reference `gen` key → (our model E_str or G, our key)."""
    pairs: list[tuple[str, str, str]] = []

    def add(model: str, mapping: dict[str, str]) -> None:
        pairs.extend((ref, model, ours) for ref, ours in mapping.items())

    enc = "enc_content.model"
    for i in range(4):
        add("E_str", _conv(f"{enc}.{i}", f"stem.{i}"))
    for i in range(4):
        for j in range(2):
            add("E_str", _conv(f"{enc}.4.model.{i}.model.{j}", f"res.{i}.conv{j + 1}"))
    add("E_str", _conv(f"{enc}.5.conv1", "aspp.branch1"))
    for k, name in enumerate(("conv6", "conv12", "conv18")):
        for j in range(2):
            add("E_str", _conv(f"{enc}.5.{name}.{j}", f"aspp.dilated.{k}.{j}"))
    add("E_str", _conv(f"{enc}.5.fuse", "aspp.fuse"))
    for i in range(4):
        for j in range(2):
            add("G", _conv(f"dec.model.1.model.{i}.model.{j}", f"res.{i}.conv{j + 1}"))
    for ref, ours in (("3", "up1"), ("5", "up2")):
        add("G", _conv(f"dec.model.{ref}", ours))
        add("G", {f"dec.model.{ref}.norm.{p}": f"{ours}.norm.{p}" for p in ("gamma", "beta")})
    for ref, ours in (("6", "conv1"), ("7", "conv2"), ("8", "out")):
        add("G", _conv(f"dec.model.{ref}", ours))
    for kind, ours in (("w", "mlp_scale"), ("b", "mlp_bias")):
        for k in range(4):
            for j in range(3):
                add("G", {f"mlp_{kind}{k + 1}.model.{j}.fc.{p}": f"{ours}.{k}.fc{j + 1}.{p}"
                          for p in PARAMS})
    return {ref: (model, ours) for ref, model, ours in pairs}


def gen_ignored_keys() -> list[str]:
    """Reference `gen` buffers with no counterpart (unused AdaIN running statistics)."""
    return [f"dec.model.1.model.{i}.model.{j}.norm.{b}"
            for i in range(4) for j in range(2) for b in ADAIN_BUFFERS]


def dis_key_map(num_scales: int = 3) -> dict[str, tuple[str, str]]:
    """Reference `dis` key → ("D", our key)."""
    out: dict[str, tuple[str, str]] = {}
    for s in range(num_scales):
        for i in range(5):
            for ref, ours in _conv(f"cnns.{s}.{i}", f"scales.{s}.stem.{i}").items():
                out[ref] = ("D", ours)
        for i in range(4):
            for j in range(2):
                mapping = _conv(f"cnns.{s}.{5 + i}.model.{j}", f"scales.{s}.res.{i}.conv{j + 1}")
                out.update({ref: ("D", ours) for ref, ours in mapping.items()})
        out.update({f"cnns.{s}.9.{p}": ("D", f"scales.{s}.head.{p}") for p in PARAMS})
    return out


def _unwrap(obj: Any, key: str, path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict under `key` (or the object itself), without a DataParallel prefix."""
    if isinstance(obj, dict) and isinstance(obj.get(key), dict):
        obj = obj[key]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"no '{key}' state dict in the checkpoint", path=path)
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _check_keys(
    state: dict[str, torch.Tensor], expected: set[str], what: str, path: str | Path
) -> None:
    missing = sorted(expected - set(state))
    unknown = sorted(set(state) - expected)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {', '.join(missing[:8])}")
        if unknown:
            parts.append(f"{len(unknown)} unknown: {', '.join(unknown[:8])}")
        raise CheckpointError(
            f"the {what} checkpoint does not match GCL's layout ({'; '.join(parts)})",
            path=path,
            fix=f"pass the authors' {what}_*.pt file for this option",
        )


def _apply_map(
    state: dict[str, torch.Tensor], key_map: dict[str, tuple[str, str]]
) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {}
    for ref, (model, ours) in key_map.items():
        out.setdefault(model, {})[ours] = state[ref].detach().clone().float()
    return out


def import_gen(obj: Any, path: str | Path = "<gen>") -> dict[str, dict[str, torch.Tensor]]:
    """`{'gen': sd}` → {"E_str": sd, "G": sd}."""
    state = _unwrap(obj, "gen", path)
    key_map = gen_key_map()
    _check_keys(state, set(key_map) | set(gen_ignored_keys()), "gen", path)
    return _apply_map(state, key_map)


def import_dis(obj: Any, path: str | Path = "<dis>") -> dict[str, dict[str, torch.Tensor]]:
    """`{'dis': sd}` → {"D": sd}."""
    state = _unwrap(obj, "dis", path)
    key_map = dis_key_map()
    _check_keys(state, set(key_map), "dis", path)
    return _apply_map(state, key_map)


def import_id(obj: Any, path: str | Path = "<id>") -> dict[str, dict[str, torch.Tensor]]:
    """`{'id': sd}` or `model_best.pth` → {"E_id": sd} (names already match E_id's)."""
    from reidkit.models.identity import IdentityEncoder, encoder_shape

    state = _unwrap(obj, "id", path)
    expected = set(IdentityEncoder(encoder_shape(state).arch).state_dict())
    _check_keys(state, expected, "id", path)
    return {"E_id": {k: state[k].detach().clone() for k in sorted(expected)}}


def export_gcl(models: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
    """Our state dicts → the reference's {'gen', 'dis', 'id'} (AdaIN buffers as zeros / ones)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    if "G" in models and "E_str" in models:
        gen = {ref: models[m][ours] for ref, (m, ours) in gen_key_map().items()}
        channels = models["G"]["res.0.conv1.conv.bias"].shape[0]
        for key in gen_ignored_keys():
            fill = torch.zeros if key.endswith("mean") else torch.ones
            gen[key] = fill(channels)
        out["gen"] = gen
    if "D" in models:
        out["dis"] = {ref: models["D"][ours] for ref, (_, ours) in dis_key_map().items()}
    if "E_id" in models:
        out["id"] = dict(models["E_id"])
    return out


def load_gcl_checkpoints(
    gen: str | Path | None = None, dis: str | Path | None = None, id_path: str | Path | None = None
) -> dict[str, dict[str, torch.Tensor]]:
    """Read the given reference files and return our models' state dicts by name."""
    models: dict[str, dict[str, torch.Tensor]] = {}
    for path, fn in ((gen, import_gen), (dis, import_dis), (id_path, import_id)):
        if path is not None:
            models.update(fn(load_checkpoint_file(path), path))
    return models
