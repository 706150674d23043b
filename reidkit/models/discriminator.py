"""D, the multi-scale PatchGAN that judges realism at 256×128, 128×64 and 64×32."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reidkit.models.blocks import ConvBlock, ResBlock, init_gaussian


def dim_of(d_state: dict[str, torch.Tensor]) -> int:
    """Channel width a D state dict was built with (its first conv's outputs)."""
    return int(d_state["scales.0.stem.0.conv.weight"].shape[0])


class PatchGAN(nn.Module):
    """One scale: conv1×1 3→32, conv3×3 32→32, s2 32→32, 32→32, s2 32→64, 4 residual blocks (no
    norm), conv1×1 64→1; lrelu 0.2, reflect padding."""

    def __init__(self, in_channels: int = 3, dim: int = 32):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBlock(in_channels, dim, 1),
            ConvBlock(dim, dim, 3, 1, 1),
            ConvBlock(dim, dim, 3, 2, 1),
            ConvBlock(dim, dim, 3, 1, 1),
            ConvBlock(dim, 2 * dim, 3, 2, 1),
        )
        self.res = nn.Sequential(*(ResBlock(2 * dim) for _ in range(4)))
        self.head = nn.Conv2d(2 * dim, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Realism map at 1/4 of the input size."""
        return self.head(self.res(self.stem(x)))


class Discriminator(nn.Module):
    """Three PatchGANs; the input is average-pooled (3, stride 2, pad 1, no padding counted)
    between scales. Returns the three maps (64×32, 32×16, 16×8 for a 256×128 input)."""

    def __init__(self, in_channels: int = 3, dim: int = 32, num_scales: int = 3):
        super().__init__()
        self.scales = nn.ModuleList(PatchGAN(in_channels, dim) for _ in range(num_scales))
        init_gaussian(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One realism map per scale, finest first."""
        outputs = []
        for i, net in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(net(x))
        return outputs
