"""SPIN's HMR regressor (Kolotouros et al. 2019) in plain PyTorch: ResNet-50 → 2048-d feature →
3 iterations of error feedback on [pose 6D, betas, weak-perspective camera].

Parameter and buffer names are exactly those of SPIN's `models/hmr.py`, so the `model` entry of
SPIN's `model_checkpoint.pt` loads with `strict=True`. The checkpoint holds the mean-parameter
buffers (`init_pose`, `init_shape`, `init_cam`) itself; `smpl_mean_params.npz` replaces them when
given and is required only for a checkpoint without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.models.resnet import Bottleneck

from reidkit.body.rotation import rot6d_to_rotmat
from reidkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from reidkit.errors import WeightsError

NPOSE = 24 * 6
INPUT_SIZE = 224
MEAN_KEYS = {"pose": NPOSE, "shape": 10, "cam": 3}
BUFFERS = {"init_pose": "pose", "init_shape": "shape", "init_cam": "cam"}

CHECKPOINT_SOURCE = (
    "pass --hmr-checkpoint with SPIN's pretrained model_checkpoint.pt "
    "(github.com/nkolot/SPIN, fetch_data.sh: http://visiondata.cis.upenn.edu/spin/model_checkpoint.pt)"
)
MEAN_SOURCE = (
    "pass --smpl-mean-params with SPIN's smpl_mean_params.npz "
    "(in SPIN's data.tar.gz: http://visiondata.cis.upenn.edu/spin/data.tar.gz)"
)


class HMR(nn.Module):
    """ResNet-50 (standard strides) + iterative regressor, with SPIN's parameter names."""

    def __init__(self, mean_params: dict[str, np.ndarray] | None = None):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.fc1 = nn.Linear(2048 + NPOSE + 13, 1024)
        self.drop1 = nn.Dropout()
        self.fc2 = nn.Linear(1024, 1024)
        self.drop2 = nn.Dropout()
        self.decpose = nn.Linear(1024, NPOSE)
        self.decshape = nn.Linear(1024, 10)
        self.deccam = nn.Linear(1024, 3)
        for head in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(head.weight, gain=0.01)
        means = mean_params or identity_mean_params()
        for buffer, key in BUFFERS.items():
            self.register_buffer(buffer, torch.as_tensor(means[key], dtype=torch.float32)[None])

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def set_mean_params(self, mean_params: dict[str, np.ndarray]) -> None:
        """Replace the initial estimate (the buffers) with the given mean parameters."""
        for buffer, key in BUFFERS.items():
            getattr(self, buffer).copy_(
                torch.as_tensor(mean_params[key], dtype=torch.float32)[None]
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 2048-d pooled ResNet-50 feature of a batch of 224×224 crops."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))

    def forward(
        self, x: torch.Tensor, n_iter: int = 3
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (rotmats B×24×3×3, betas B×10, camera B×3 = [s, tx, ty] in the 224 crop)."""
        feat = self.features(x)
        batch = feat.shape[0]
        pose = self.init_pose.expand(batch, -1)
        shape = self.init_shape.expand(batch, -1)
        cam = self.init_cam.expand(batch, -1)
        for _ in range(n_iter):
            hidden = self.drop2(
                self.fc2(self.drop1(self.fc1(torch.cat([feat, pose, shape, cam], 1))))
            )
            pose = self.decpose(hidden) + pose
            shape = self.decshape(hidden) + shape
            cam = self.deccam(hidden) + cam
        return rot6d_to_rotmat(pose.reshape(batch, 24, 6)), shape, cam


def identity_mean_params() -> dict[str, np.ndarray]:
    """Neutral initial estimate (identity rotations, zero betas, unit scale) before loading."""
    six = np.tile(np.array([1, 0, 0, 1, 0, 0], dtype=np.float32), 24)
    return {
        "pose": six,
        "shape": np.zeros(10, np.float32),
        "cam": np.array([0.9, 0, 0], np.float32),
    }


def load_mean_params(path: str | Path) -> dict[str, np.ndarray]:
    """Read SPIN's `smpl_mean_params.npz` (keys pose 144, shape 10, cam 3), checking each."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError("SMPL mean-parameter file not found", path=path, fix=MEAN_SOURCE)
    try:
        with np.load(path, allow_pickle=False) as data:
            params = {k: np.asarray(data[k], dtype=np.float32).reshape(-1) for k in MEAN_KEYS}
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(
            f"not a valid smpl_mean_params.npz ({type(exc).__name__}: {exc})",
            path=path,
            fix=MEAN_SOURCE,
        ) from exc
    for key, size in MEAN_KEYS.items():
        if params[key].size != size:
            raise WeightsError(
                f"smpl_mean_params '{key}' has {params[key].size} values, expected {size}",
                path=path,
                fix=MEAN_SOURCE,
            )
    return params


def _checkpoint_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError("HMR checkpoint not found", path=path, fix=CHECKPOINT_SOURCE)
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or code-carrying pickles
        raise WeightsError(
            f"cannot read HMR checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            path=path,
            fix=CHECKPOINT_SOURCE,
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise WeightsError("HMR checkpoint holds no state dict", path=path, fix=CHECKPOINT_SOURCE)
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_hmr(
    checkpoint: str | Path,
    mean_params: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> HMR:
    """Build HMR from a SPIN checkpoint (strict, eval mode); mean params from the npz if given."""
    path = Path(checkpoint)
    state = _checkpoint_state(path)
    with torch.device("meta"):  # no random init: every tensor comes from the checkpoint
        model = HMR()
    own = model.state_dict()
    weights = set(own) - set(BUFFERS)
    missing = sorted(weights - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise WeightsError(
            f"not a SPIN HMR checkpoint: {len(missing)} missing tensors {missing[:3]}, "
            f"{len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(wrong)} of wrong shape {wrong[:3]}",
            path=path,
            fix=CHECKPOINT_SOURCE,
        )
    if not all(b in state for b in BUFFERS):
        if mean_params is None:
            raise WeightsError(
                "the HMR checkpoint has no mean-parameter buffers (init_pose/init_shape/init_cam)",
                path=path,
                fix=MEAN_SOURCE,
            )
        means = identity_mean_params()
        state = {**state, **{b: torch.as_tensor(means[k])[None] for b, k in BUFFERS.items()}}
    model.load_state_dict(state, strict=True, assign=True)
    if mean_params is not None:
        model.set_mean_params(load_mean_params(mean_params))
    return model.eval().to(device)


def crop_to_input(image: Image.Image) -> torch.Tensor:
    """Pad a person crop to a centred black square, resize to 224, ImageNet-normalise."""
    image = image.convert("RGB")
    side = max(image.size)
    square = Image.new("RGB", (side, side))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    square = square.resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(square, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict(
    model: HMR, images: Sequence[Image.Image], device: torch.device | str = "cpu"
) -> dict[str, np.ndarray]:
    """HMR on one batch of person crops: pose rotmats (N×24×3×3), betas (N×10), camera (N×3)."""
    batch = torch.stack([crop_to_input(image) for image in images]).to(device)
    rotmat, betas, cam = model(batch)
    return {
        "pose": rotmat.float().cpu().numpy(),
        "betas": betas.float().cpu().numpy(),
        "camera": cam.float().cpu().numpy(),
    }
