"""The body-parameter file: per image the SMPL betas, pose and weak-perspective camera.

One `.npz` (no pickles) with
- `format`: "reidkit-body-params-1"
- `names`: (N,) str, `<split>/<image name>` with split `train` or `test` (the mesh layout's key:
  `test` holds query and gallery; MSMT names keep their `<pid>/` folder)
- `betas`: (N, 10) float32
- `pose`: (N, 24, 3, 3) float32 rotation matrices, global orientation first (SMPL joint order);
  (N, 72) or (N, 24, 3) axis-angle is accepted on reading
- `camera`: (N, 3) float32 weak-perspective [s, tx, ty] of the person crop
  (convention: docs/mesh-and-synth.md)

`reidkit mesh` writes one per split (`<mesh_root>/<split>/body_params.npz`), `reidkit synth` one
for its whole dataset, and `reidkit mesh --smpl-params` reads any number of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reidkit.body.rotation import axis_angle_to_rotmat
from reidkit.errors import ConfigError
from reidkit.io import atomic_path

FORMAT = "reidkit-body-params-1"
FILE_NAME = "body_params.npz"


@dataclass
class BodyParams:
    """Parameters of N images, row-aligned with `names`."""

    names: list[str]
    betas: np.ndarray
    pose: np.ndarray
    camera: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def index(self) -> dict[str, int]:
        """Row of each name."""
        return {name: i for i, name in enumerate(self.names)}

    def take(self, rows: Sequence[int]) -> BodyParams:
        """The given rows as a new BodyParams."""
        rows = np.asarray(rows, dtype=np.int64)
        return BodyParams(
            [self.names[i] for i in rows], self.betas[rows], self.pose[rows], self.camera[rows]
        )

    @staticmethod
    def concat(parts: Sequence[BodyParams]) -> BodyParams:
        """Join several parameter sets; an image named twice is an error."""
        names = [n for p in parts for n in p.names]
        if len(set(names)) != len(names):
            raise ConfigError("the same image appears in more than one body-parameter file")
        if not parts:
            return BodyParams(
                [],
                np.zeros((0, 10), np.float32),
                np.zeros((0, 24, 3, 3), np.float32),
                np.zeros((0, 3), np.float32),
            )
        return BodyParams(
            names,
            np.concatenate([p.betas for p in parts]),
            np.concatenate([p.pose for p in parts]),
            np.concatenate([p.camera for p in parts]),
        )


def save_body_params(path: str | Path, params: BodyParams) -> None:
    """Write the parameter file atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            format=np.array(FORMAT),
            names=np.array(params.names, dtype=str),
            betas=np.asarray(params.betas, np.float32),
            pose=np.asarray(params.pose, np.float32),
            camera=np.asarray(params.camera, np.float32),
        )


def load_body_params(path: str | Path, option: str = "--smpl-params") -> BodyParams:
    """Read and check one parameter file; problems name `option` in the message."""
    path = Path(path)
    fix = (
        f"pass to {option} a {FILE_NAME} written by `reidkit mesh` or `reidkit synth` "
        "(format: docs/mesh-and-synth.md)"
    )
    if not path.is_file():
        raise ConfigError("body-parameter file not found", path=path, fix=fix)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["names"]]
            betas = np.asarray(data["betas"], np.float32)
            pose = np.asarray(data["pose"], np.float32)
            camera = np.asarray(data["camera"], np.float32)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ConfigError(
            f"not a readable body-parameter file ({type(exc).__name__}: {exc})", path=path, fix=fix
        ) from exc
    n = len(names)
    if pose.shape in ((n, 72), (n, 24, 3)):
        pose = axis_angle_to_rotmat(torch.from_numpy(pose.reshape(n, 24, 3))).numpy()
    problems = []
    if betas.ndim != 2 or betas.shape[0] != n or betas.shape[1] < 1:
        problems.append(f"betas {betas.shape} (want ({n}, 10))")
    if pose.shape != (n, 24, 3, 3):
        problems.append(f"pose {pose.shape} (want ({n}, 24, 3, 3) rotmats or ({n}, 72) axis-angle)")
    if camera.shape != (n, 3):
        problems.append(f"camera {camera.shape} (want ({n}, 3))")
    if problems:
        raise ConfigError(
            "body-parameter arrays have wrong shapes: " + "; ".join(problems), path=path, fix=fix
        )
    if betas.shape[1] < 10:
        betas = np.pad(betas, ((0, 0), (0, 10 - betas.shape[1])))
    return BodyParams(names, betas[:, :10].copy(), pose, camera)
