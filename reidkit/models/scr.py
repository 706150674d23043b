"""SCR, the spatial-channel partition network (H. Chen thesis ch. 3, WACV 2020) as an E_id.

A ResNet shared up to conv4_1 (`layer3[0]`), then three independent branches p1, p2, p3, each a
copy of `layer3[1:]` + `layer4` with conv5_1 at stride 1. Every pooling is global max pooling:
p1 gives its whole map; p2 its whole map, 2 horizontal stripes and 2 channel groups; p3 its whole
map, 3 stripes and 3 channel groups (683/683/682 of 2048). Each of the 13 vectors has its own
1×1 conv (no bias; a bias-free Linear on the pooled vector is the same map) and BN to 256-d, no
ReLU. The retrieval feature `f` is the concatenation of the 13 BN'd vectors (3328-d), the 3
global ones first; the part code `f_id` for G is read from p1's map, as IdentityEncoder's.

Parameter names: the trunk keeps torchvision's (`conv1` … `layer3.0`), the branches are
`branches.{0,1,2}.layer3` (torchvision's layer3[1:]) and `branches.{i}.layer4`, the reductions
`feat.{k}` / `feat_bn.{k}`. A torchvision ResNet state dict loads directly: its layer3[1:] and
layer4 are copied into each branch (so `load_imagenet` builds SCR from ImageNet weights).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from reidkit.models.identity import ARCHS, NUM_PARTS

# SCR arch name → the torchvision ResNet it is built from (resnet18: quick CPU runs and tests)
SCR_ARCHS = {"scr": "resnet50", "scr-resnet18": "resnet18"}
REDUCED_DIM = 256
BRANCH_PARTS = (1, 2, 3)  # stripes and channel groups of p1, p2, p3 (1 = the whole map only)
NUM_VECTORS = 13  # 3 global + 2 + 2 + 3 + 3 local
NUM_GLOBAL = 3
SCR_KEY = "branches.0.layer4.0.conv1.weight"  # present only in SCR state dicts


def channel_groups(channels: int, parts: int) -> list[int]:
    """Sizes of `parts` near-equal channel groups, the larger first (2048 / 3 → 683, 683, 682)."""
    return [channels // parts + (i < channels % parts) for i in range(parts)]


def scr_arch_of(state: Mapping[str, Any]) -> str | None:
    """The SCR arch a state dict holds (`conv3` blocks: ResNet-50), or None if it is no SCR."""
    if SCR_KEY not in state:
        return None
    return "scr" if "branches.0.layer4.0.conv3.weight" in state else "scr-resnet18"


def _torchvision_to_branches(
    module: nn.Module, state: dict[str, Any], prefix: str, *args: Any
) -> None:
    """Load-time hook: a torchvision ResNet's `layer3.{k≥1}.*` and `layer4.*` become each
    branch's `branches.{i}.layer3.{k−1}.*` and `branches.{i}.layer4.*` (SCR's own keys pass)."""
    del args
    for key in [k for k in state if k.startswith((f"{prefix}layer3.", f"{prefix}layer4."))]:
        layer, block, rest = key[len(prefix):].split(".", 2)
        if layer == "layer3" and block == "0":
            continue
        value = state.pop(key)
        block = str(int(block) - 1) if layer == "layer3" else block
        for i in range(len(module.branches)):
            state[f"{prefix}branches.{i}.{layer}.{block}.{rest}"] = value


class SCREncoder(nn.Module):
    """SCR with the E_id protocol: `forward(x) -> (f_id, f)`, f_id the 4-part channel-major
    average-pooled code of p1's map (8192-d for ResNet-50), f the 13 reduced vectors (3328-d)."""

    pooling = "max"

    def __init__(self, arch: str = "scr"):
        super().__init__()
        if arch not in SCR_ARCHS:
            raise ValueError(f"unknown SCR arch {arch}; choose from {sorted(SCR_ARCHS)}")
        self.arch, self.imagenet_arch = arch, SCR_ARCHS[arch]
        builder, channels = ARCHS[self.imagenet_arch]
        base = builder(weights=None)
        block = base.layer4[0]
        (block.conv2 if hasattr(block, "conv3") else block.conv1).stride = (1, 1)  # conv5_1
        block.downsample[0].stride = (1, 1)
        self.channels = channels
        self.conv1, self.bn1, self.relu, self.maxpool = (
            base.conv1, base.bn1, base.relu, base.maxpool
        )
        self.layer1, self.layer2 = base.layer1, base.layer2
        self.layer3 = nn.Sequential(base.layer3[0])  # conv4_1, the last shared block
        branch = nn.Sequential(
            OrderedDict(layer3=nn.Sequential(*base.layer3[1:]), layer4=base.layer4)
        )
        self.branches = nn.ModuleList(copy.deepcopy(branch) for _ in BRANCH_PARTS)
        dims = [channels] * NUM_GLOBAL
        for parts in BRANCH_PARTS[1:]:
            dims += [channels] * parts + channel_groups(channels, parts)
        self.feat = nn.ModuleList(nn.Linear(d, REDUCED_DIM, bias=False) for d in dims)
        self.feat_bn = nn.ModuleList(nn.BatchNorm1d(REDUCED_DIM) for _ in dims)
        for linear, bn in zip(self.feat, self.feat_bn, strict=True):
            nn.init.kaiming_normal_(linear.weight, mode="fan_out")
            nn.init.ones_(bn.weight)
            nn.init.zeros_(bn.bias)
        self.embed_dim = REDUCED_DIM * len(dims)
        self.register_load_state_dict_pre_hook(_torchvision_to_branches)

    @property
    def part_dim(self) -> int:
        """Length of the part code f_id (4 parts × channels of p1)."""
        return NUM_PARTS * self.channels

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))

    def branch_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three branches' maps (2048×24×12 each for a 384×192 input)."""
        shared = self._trunk(x)
        return [branch(shared) for branch in self.branches]

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """p1's map, the one the part code is read from."""
        return self.branches[0](self._trunk(x))

    def pooled(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """The 13 max-pooled vectors: p1, p2, p3 whole, then per partitioned branch its stripes
        (adaptive bins: equal when the parts divide the height) and its channel groups."""
        whole = [F.adaptive_max_pool2d(m, 1).flatten(1) for m in maps]
        local: list[torch.Tensor] = []
        for fmap, vector, parts in zip(maps[1:], whole[1:], BRANCH_PARTS[1:], strict=True):
            local += F.adaptive_max_pool2d(fmap, (parts, 1)).flatten(2).unbind(2)
            local += torch.split(vector, channel_groups(self.channels, parts), dim=1)
        return whole + local

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (f_id part code, f = the 13 BN'd 256-d vectors concatenated, not normalised)."""
        maps = self.branch_maps(x)
        f_id = F.adaptive_avg_pool2d(maps[0], (NUM_PARTS, 1)).flatten(1)  # channel-major
        reduced = [
            bn(linear(v))
            for v, linear, bn in zip(self.pooled(maps), self.feat, self.feat_bn, strict=True)
        ]
        return f_id, torch.cat(reduced, dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised retrieval feature (3328-d for either backbone)."""
        return F.normalize(self(x)[1], dim=1)
