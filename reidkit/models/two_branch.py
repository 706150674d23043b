"""ABMT's asymmetric two-branch E_id (H. Chen thesis §4.3.2, Fig 4.1): layers 1–3 shared; branch
a = layer4 + GAP; branch m = a copy of layer4 + one randomly initialised extra bottleneck
(C → C/4 → C, 2048-512-2048 for resnet50) + GMP; each branch's pooled C-d feature goes through its
own BN neck (bias frozen). The retrieval feature is the concatenation a|m (2C-d, 4096 for
resnet50); the part code for G is read from branch a's map, as IdentityEncoder's.

Parameter names extend IdentityEncoder's (`layer4` and `feat_bn` are branch a; `layer4_m`,
`extra_m`, `feat_bn_m` are branch m), so `reidkit.models.loading` tells the family apart by the
`layer4_m.` keys and eval, cluster, gen-warmup and train-joint load it like any E_id.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import Bottleneck

from reidkit.models.identity import NUM_PARTS, IdentityEncoder

BRANCH_M_KEY = "layer4_m.0.conv1.weight"  # present only in two-branch state dicts
SHARED_MODULES = (
    *("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"),  # layers 1–3
    *("layer4", "feat_bn"),  # branch a
    *("layer4_m", "extra_m", "feat_bn_m"),  # branch m
)


def extra_bottleneck(channels: int) -> Bottleneck:
    """Branch m's fourth block, C → C/4 → C with an identity shortcut, He-initialised as
    torchvision initialises its ResNets (BN weight 1, bias 0)."""
    block = Bottleneck(channels, channels // Bottleneck.expansion)
    for module in block.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return block


def bn_neck(channels: int) -> nn.BatchNorm1d:
    """BN neck with its bias frozen at 0 (ABMT's 'BN (bias frozen)')."""
    neck = nn.BatchNorm1d(channels)
    nn.init.ones_(neck.weight)
    nn.init.zeros_(neck.bias)
    neck.bias.requires_grad_(False)
    return neck


def grow_branch_m(base: IdentityEncoder) -> None:
    """Give an E_id with a BN neck (head bnneck, average pooling) the m branch, once: a copy of
    its layer4, an extra bottleneck and a second BN neck, registered on `base` itself so that its
    state dict (the warm-up engine's hand-off between phases) carries both branches."""
    if hasattr(base, "feat"):
        raise ValueError("the two-branch E_id needs the bnneck head (no `feat` projection)")
    if not hasattr(base, "layer4_m"):
        base.add_module("layer4_m", copy.deepcopy(base.layer4))
        base.add_module("extra_m", extra_bottleneck(base.channels))
        base.add_module("feat_bn_m", bn_neck(base.channels))
    base.feat_bn.bias.requires_grad_(False)


class TwoBranchEncoder(nn.Module):
    """ABMT's E_id; `TwoBranchEncoder(arch, base=model)` shares every module with `model` (grown
    by `grow_branch_m`), so training it trains the engine's E_id in place."""

    def __init__(self, arch: str = "resnet50", base: IdentityEncoder | None = None):
        super().__init__()
        base = IdentityEncoder(arch, embed_dim=None) if base is None else base
        grow_branch_m(base)
        self.arch, self.channels = base.arch, base.channels
        self.pooling = "avg|max"
        self.embed_dim = 2 * base.channels
        for name in SHARED_MODULES:
            self.add_module(name, getattr(base, name))

    @property
    def part_dim(self) -> int:
        """Length of the part code f_id (4 parts × channels of branch a)."""
        return NUM_PARTS * self.channels

    def shared_map(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the shared layers 1–3."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Branch a's map (the one G's part code is read from), 16×8 at 256×128."""
        return self.layer4(self.shared_map(x))

    def branches(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(branch a's map, pooled a = GAP, pooled m = GMP, BN'd a, BN'd m); the losses need the
        pre-BN (triplets) and BN'd (classifiers) features of both branches."""
        shared = self.shared_map(x)
        map_a = self.layer4(shared)
        pooled_a = F.adaptive_avg_pool2d(map_a, 1).flatten(1)
        pooled_m = F.adaptive_max_pool2d(self.extra_m(self.layer4_m(shared)), 1).flatten(1)
        return map_a, pooled_a, pooled_m, self.feat_bn(pooled_a), self.feat_bn_m(pooled_m)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f_id: branch a's channel-major 4-part code, f: BN'd a | BN'd m, not normalised)."""
        map_a, _, _, bn_a, bn_m = self.branches(x)
        f_id = F.adaptive_avg_pool2d(map_a, (NUM_PARTS, 1)).flatten(1)
        return f_id, torch.cat([bn_a, bn_m], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised a|m, the test feature (the thesis deploys the teacher's)."""
        return F.normalize(self(x)[1], dim=1)
