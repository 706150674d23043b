"""Load a body model (the user's SMPL file or the shipped procedural body) as `smplx.SMPL`, and
pose it from shape and pose parameters."""

from __future__ import annotations

import contextlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import smplx
import torch
from smplx.utils import Struct
from torch import Tensor

from reidkit.body.rotation import axis_angle_to_rotmat
from reidkit.errors import WeightsError
from reidkit.resources import asset_path

PROCEDURAL = "procedural"
PROCEDURAL_FILE = ("body", "procedural_smpl.pkl")
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table", "f")
# Names a folder given as --smpl-model is searched for, in this order.
FOLDER_CANDIDATES = (
    "SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "smpl/SMPL_NEUTRAL.pkl", "smpl/SMPL_NEUTRAL.npz",
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
)
_WHERE = ("SMPL comes from its authors at https://smpl.is.tue.mpg.de after registration "
          "(it cannot be shipped); or use --smpl-model procedural for the shipped procedural body")
_CONVERT = (
    "convert it once in an old environment that has chumpy (e.g. Python 3.8, numpy<1.24, "
    "pip install chumpy): load the pickle, turn every chumpy/scipy value into a numpy array "
    "(np.array(value) / value.toarray()), and save the dict with numpy.savez or pickle; then "
    "pass the new file with --smpl-model"
)

# What a model pickle may reference: numpy arrays, scipy sparse matrices and the plain builtins
# they are made of. Anything else (chumpy objects, arbitrary callables) is refused unrun.
_ALLOWED_GLOBALS = {
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"), ("_codecs", "encode"),
    ("__builtin__", "set"), ("builtins", "set"), ("__builtin__", "tuple"), ("builtins", "tuple"),
}
_NUMPY_NAMES = {"_reconstruct", "scalar", "dtype", "ndarray", "zeros", "_frombuffer", "frombuffer"}


class _ChumpyFound(Exception):
    """A model pickle references the chumpy package."""


class _ModelUnpickler(pickle.Unpickler):
    """Unpickles only numpy / scipy.sparse data; stops at the first chumpy reference."""

    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "chumpy":
            raise _ChumpyFound(module)
        top = module.split(".")[0]
        if (module, name) in _ALLOWED_GLOBALS or (top == "numpy" and name in _NUMPY_NAMES) or (
            module.startswith("scipy.sparse") and name.endswith("_matrix")
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def _resolve_path(source: str | Path) -> Path:
    """The model file for a path, a folder holding one, or 'procedural'."""
    if str(source) == PROCEDURAL:
        return asset_path(*PROCEDURAL_FILE)
    path = Path(source).expanduser()
    if path.is_dir():
        for name in FOLDER_CANDIDATES:
            if (path / name).is_file():
                return path / name
        raise WeightsError(
            "no SMPL model file in the folder given by --smpl-model (looked for "
            + ", ".join(FOLDER_CANDIDATES) + ")", path=path, fix=_WHERE)
    if not path.is_file():
        raise WeightsError("SMPL body model file not found (--smpl-model)", path=path, fix=_WHERE)
    return path


def read_model_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read a body model file (.npz or numpy-only .pkl) into float/int numpy arrays."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                raw = {k: data[k] for k in data.files}
        else:
            with open(path, "rb") as fh:
                raw = _ModelUnpickler(fh, encoding="latin1").load()
    except _ChumpyFound as exc:
        raise WeightsError(
            "this SMPL file stores chumpy objects, which do not load with current numpy",
            path=path, fix=_CONVERT) from exc
    except (pickle.UnpicklingError, ValueError, EOFError, OSError, KeyError) as exc:
        raise WeightsError(f"cannot read the body model file ({exc})", path=path,
                           fix="pass a numpy-only SMPL .pkl or .npz with --smpl-model; " + _WHERE
                           ) from exc
    if not isinstance(raw, dict):
        raise WeightsError("the body model file does not hold a dict of arrays", path=path,
                           fix="pass SMPL_NEUTRAL.pkl or a cleaned .npz with --smpl-model")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise WeightsError(f"the body model file lacks {', '.join(missing)}", path=path,
                           fix="pass a SMPL model file (SMPL_NEUTRAL.pkl) with --smpl-model")
    out = {}
    for key in REQUIRED_KEYS:
        value = raw[key]
        out[key] = np.asarray(value.toarray() if hasattr(value, "toarray") else value)
    return out


def load_body_model(source: str | Path = PROCEDURAL, device: str | torch.device = "cpu"
                    ) -> smplx.SMPL:
    """An `smplx.SMPL` for a SMPL file or folder (--smpl-model) or "procedural" (shipped body)."""
    path = _resolve_path(source)
    arrays = read_model_arrays(path)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a notice about 10 betas
        model = smplx.SMPL(str(path), data_struct=Struct(**arrays), num_betas=10)
    model.requires_grad_(False)
    return model.eval().to(device)


@dataclass
class BodyOutput:
    """Posed meshes: vertices [B, V, 3] and the 24 SMPL joints [B, 24, 3]."""

    vertices: Tensor
    joints: Tensor


def pose_rotmats(pose: Tensor) -> Tensor:
    """Any pose layout → rotation matrices [B, 24, 3, 3]: accepts [B, 24, 3, 3], [B, 24, 9],
    axis-angle [B, 24, 3] or [B, 72]. Joint 0 is the global orientation."""
    if pose.shape[-2:] == (3, 3):
        return pose.reshape(pose.shape[0], -1, 3, 3)
    if pose.shape[-1] == 9:
        return pose.reshape(pose.shape[0], -1, 3, 3)
    return axis_angle_to_rotmat(pose.reshape(pose.shape[0], -1, 3))


def pose_body(model: smplx.SMPL, pose: Tensor, betas: Tensor | None = None,
              global_orient: Tensor | None = None) -> BodyOutput:
    """Pose the model. pose: 24 joint rotations (see `pose_rotmats`; joint 0 = global orient) or
    23 body joints with `global_orient` given separately ([B, 3] axis-angle or [B, 3, 3]);
    betas: [B, n] (padded / cut to the model's count; None = mean shape)."""
    device, dtype = model.shapedirs.device, model.shapedirs.dtype
    rot = pose_rotmats(pose.to(device=device, dtype=dtype))
    if global_orient is not None:
        go = global_orient.to(device=device, dtype=dtype)
        go = (go.reshape(-1, 1, 3, 3) if go.shape[-2:] == (3, 3)
              else axis_angle_to_rotmat(go.reshape(-1, 1, 3)))
        rot = torch.cat([go.expand(rot.shape[0], 1, 3, 3), rot], dim=1)
    if rot.shape[1] != 24:
        raise ValueError(f"expected 24 joint rotations, got {rot.shape[1]}")
    bsz = rot.shape[0]
    nb = model.num_betas
    shape = torch.zeros(bsz, nb, device=device, dtype=dtype)
    if betas is not None:
        b = betas.to(device=device, dtype=dtype)
        b = b.reshape(b.shape[0] if b.dim() > 1 else 1, -1)[:, :nb]
        shape[:, : b.shape[1]] = b
    out = model(betas=shape, body_pose=rot[:, 1:], global_orient=rot[:, :1], pose2rot=False,
                transl=torch.zeros(bsz, 3, device=device, dtype=dtype))
    return BodyOutput(out.vertices, out.joints[:, :24])


def faces_tensor(model: smplx.SMPL) -> Tensor:
    """The model's faces [F, 3] as a long tensor on the model's device."""
    return model.faces_tensor
