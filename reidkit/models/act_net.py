"""ACT's network (Yang et al., AAAI'20; FlyingRoastDuck/ACT_AAAI20 `reid/models/resnet.py`): a
ResNet at the standard last stride whose retrieval feature is the pooled map x1 (no BN), plus a
training-only branch x2 = ReLU(BN(FC(x1))). It keeps E_id's protocol (part code, `embed`,
`feature_map`), so eval, cluster, gen-warmup and train-joint read it like any E_id."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reidkit.models.identity import NUM_PARTS, IdentityEncoder


def set_last_stride(model: IdentityEncoder, stride: int) -> None:
    """In place: the stride of layer4's first block (2: torchvision's standard, 1: E_id's)."""
    block = model.layer4[0]
    (block.conv2 if hasattr(block, "conv3") else block.conv1).stride = (stride, stride)
    block.downsample[0].stride = (stride, stride)


class ACTEncoder(IdentityEncoder):
    """x1 = GAP of the map (2048-d for resnet50; what clustering, test and the next stages use),
    x2 = ReLU(BN(FC(x1))) with a bias-free FC (`feat`, `feat_bn`). The `last_stride` buffer marks
    the family in a state dict and records the stride, which no weight shape shows."""

    def __init__(self, arch: str = "resnet50", last_stride: int = 2):
        super().__init__(arch, embed_dim=None)
        set_last_stride(self, last_stride)
        self.feat = nn.Linear(self.channels, self.channels, bias=False)
        nn.init.normal_(self.feat.weight, std=0.001)
        self.register_buffer("last_stride", torch.tensor(last_stride))

    def branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x1, x2): the two features ACT's triplet losses train."""
        x1 = self.pool(self.feature_map(x)).flatten(1)
        return x1, F.relu(self.feat_bn(self.feat(x1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f_id part code, x1); x2 is for training only (see `branches`)."""
        fmap = self.feature_map(x)
        f_id = F.adaptive_avg_pool2d(fmap, (NUM_PARTS, 1)).flatten(1)
        return f_id, self.pool(fmap).flatten(1)


def is_act_state(state: dict[str, torch.Tensor]) -> bool:
    """An ACTEncoder state dict carries its `last_stride` buffer."""
    return "last_stride" in state


def act_encoder_for_state(state: dict[str, torch.Tensor]) -> ACTEncoder:
    """An untrained ACTEncoder of the arch and stride `state` holds."""
    arch = "resnet50" if "layer4.0.conv3.weight" in state else "resnet18"
    return ACTEncoder(arch, last_stride=int(state["last_stride"]))
