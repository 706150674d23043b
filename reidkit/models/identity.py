"""E_id, the identity encoder shared by every stage (GCL's ResNet with part and global heads).

Parameter names follow JVTC/GCL (`conv1`, `bn1`, `layer1..4`, `feat`, `feat_bn`) so their
state dicts load directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from reidkit import log
from reidkit.errors import WeightsError
from reidkit.models.pooling import POOLINGS, GeM

ARCHS = {
    "resnet50": (torchvision.models.resnet50, 2048),
    "resnet18": (torchvision.models.resnet18, 512),
}
NUM_PARTS = 4
# E_id heads by name: embedding size of `f` (None = the pooled features behind a BN neck, ICE)
HEADS = {"gcl": 512, "bnneck": None}


class IdentityEncoder(nn.Module):
    """ResNet with last stride 1: an 8192-d (resnet50) channel-major part code for G and a 512-d
    embedding `f` (Linear + BN) for retrieval; `embed_dim=None` keeps the pooled features with a
    BN neck instead (ICE-style checkpoints). `pooling="gem"` pools `f`'s input with GeM (a learned
    `pool.p`, Cluster-Contrast's); the part code is always average-pooled."""

    def __init__(self, arch: str = "resnet50", embed_dim: int | None = 512, pooling: str = "avg"):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch}; choose from {sorted(ARCHS)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling}; choose from {POOLINGS}")
        builder, channels = ARCHS[arch]
        base = builder(weights=None)
        block = base.layer4[0]
        (block.conv2 if hasattr(block, "conv3") else block.conv1).stride = (1, 1)
        block.downsample[0].stride = (1, 1)
        self.arch, self.channels = arch, channels
        self.conv1, self.bn1, self.relu, self.maxpool = (
            base.conv1, base.bn1, base.relu, base.maxpool
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            base.layer1, base.layer2, base.layer3, base.layer4,
        )
        self.pooling = pooling
        self.pool = GeM() if pooling == "gem" else nn.AdaptiveAvgPool2d(1)
        self.embed_dim = embed_dim or channels
        if embed_dim is not None:
            self.feat = nn.Linear(channels, embed_dim)
            nn.init.kaiming_normal_(self.feat.weight, mode="fan_out")
            nn.init.zeros_(self.feat.bias)
        self.feat_bn = nn.BatchNorm1d(self.embed_dim)
        nn.init.ones_(self.feat_bn.weight)
        nn.init.zeros_(self.feat_bn.bias)

    @property
    def part_dim(self) -> int:
        """Length of the part code f_id (4 parts × channels; 8192 for resnet50)."""
        return NUM_PARTS * self.channels

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone map, 16×8 for a 256×128 input."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (f_id part code, f embedding); f is not normalised (see `embed`)."""
        fmap = self.feature_map(x)
        f_id = F.adaptive_avg_pool2d(fmap, (NUM_PARTS, 1)).flatten(1)  # channel-major
        pooled = self.pool(fmap).flatten(1)
        f = self.feat_bn(self.feat(pooled) if hasattr(self, "feat") else pooled)
        return f_id, f

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised retrieval feature."""
        return F.normalize(self(x)[1], dim=1)


@dataclass(frozen=True)
class EncoderShape:
    """The E_id a state dict holds: backbone, embedding size (None: the BN neck), pooling."""

    arch: str
    embed_dim: int | None
    pooling: str

    @property
    def channels(self) -> int:
        """Width of the backbone's last stage (2048 for resnet50, 512 for resnet18)."""
        return ARCHS[self.arch][1]


def encoder_shape(state: Mapping[str, torch.Tensor]) -> EncoderShape:
    """Arch from `conv3` (resnet50 bottlenecks), embedding from `feat.weight`, GeM from `pool.p`."""
    return EncoderShape(
        arch="resnet50" if "layer4.0.conv3.weight" in state else "resnet18",
        embed_dim=int(state["feat.weight"].shape[0]) if "feat.weight" in state else None,
        pooling="gem" if "pool.p" in state else "avg",
    )


def hub_imagenet_weights(arch: str) -> Path | None:
    """A torchvision ImageNet checkpoint for `arch` in the torch hub cache, if one is there."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(folder.glob(f"{arch}-*.pth")) if folder.is_dir() else []
    return found[0] if found else None


def load_imagenet(model: IdentityEncoder, pretrained: str | Path | None) -> str:
    """Load ImageNet backbone weights: a path, `auto` (torch hub cache) or `none` (warned).

    Returns a short description of what was loaded, for logs and checkpoints.
    """
    if pretrained is None or str(pretrained).lower() == "none":
        log.warn("E_id starts from random weights (--pretrained none): fine for tests and demos, "
                 "far below published accuracy for real training")
        return "none"
    arch = getattr(model, "imagenet_arch", model.arch)  # SCR: the ResNet its branches copy
    if str(pretrained).lower() == "auto":
        path = hub_imagenet_weights(arch)
        if path is None:
            raise WeightsError(
                f"no ImageNet {arch} weights in the torch hub cache "
                f"({Path(torch.hub.get_dir()) / 'checkpoints'})",
                fix=f"pass --pretrained PATH to torchvision's {arch} ImageNet .pth file "
                "(or copy it into that folder), or --pretrained none to start from random weights",
            )
    else:
        path = Path(pretrained)
        if not path.is_file():
            raise WeightsError("ImageNet weights file not found", path=path,
                               fix="pass torchvision's ImageNet .pth for the backbone")
    state = torch.load(path, map_location="cpu", weights_only=True)
    backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    missing = [k for k in missing if not k.startswith(("feat.", "feat_bn."))]
    if missing or unexpected:
        raise WeightsError(
            f"ImageNet weights do not fit {model.arch}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}",
            path=path,
            fix=f"pass torchvision's {arch} ImageNet checkpoint",
        )
    return str(path)
