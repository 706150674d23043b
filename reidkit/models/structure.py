"""E_str, the structure encoder: a 1-channel rendered mesh → the 128×64×32 structure map f_str."""

from __future__ import annotations

import torch
from torch import nn

from reidkit.errors import ConfigError
from reidkit.models.blocks import ConvBlock, ResBlock, init_kaiming

MIN_SIDE = 40  # two stride-2 convs, then ASPP's dilation-9 reflect padding needs a side ≥ 10


def check_gan_size(size: tuple[int, int]) -> None:
    """Refuse an image size E_str and G cannot work at, before any data is read: each side must
    be a multiple of 4 (G paints 4× the structure map) and at least 40."""
    h, w = size
    if h % 4 or w % 4 or min(h, w) < MIN_SIDE:
        raise ConfigError(
            f"image size {h}x{w} does not fit the generator: each side must be a multiple of 4 "
            f"and at least {MIN_SIDE}",
            fix="warm up at such a size (warmup --size) or give gen-warmup --size, e.g. 256x128",
        )


class ASPP(nn.Module):
    """Atrous spatial pyramid: four 32-channel branches (1×1; 1×1 → 3×3 dilated 3, 6, 9),
    concatenated and fused by a 1×1 conv to 128 channels; IN after every conv."""

    def __init__(self, channels: int = 64):
        super().__init__()
        part = channels // 2
        self.branch1 = ConvBlock(channels, part, 1, norm="in", act="none")
        self.dilated = nn.ModuleList(
            nn.Sequential(
                ConvBlock(channels, part, 1, norm="in", act="lrelu"),
                ConvBlock(part, part, 3, 1, rate, norm="in", act="none", dilation=rate),
            )
            for rate in (3, 6, 9)
        )
        self.fuse = ConvBlock(4 * part, 2 * channels, 1, norm="in", act="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-rate context of the structure map."""
        branches = [self.branch1(x)] + [branch(x) for branch in self.dilated]
        return self.fuse(torch.cat(branches, dim=1))


class StructureEncoder(nn.Module):
    """Conv s2 1→16, 16→32, 32→32, s2 32→64, 4 IN residual blocks, ASPP 64→128 (IN, lrelu 0.2,
    reflect padding): a 256×128 mesh image gives f_str of 128×64×32."""

    out_channels = 128

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBlock(in_channels, 16, 3, 2, 1, norm="in"),
            ConvBlock(16, 32, 3, 1, 1, norm="in"),
            ConvBlock(32, 32, 3, 1, 1, norm="in"),
            ConvBlock(32, 64, 3, 2, 1, norm="in"),
        )
        self.res = nn.Sequential(*(ResBlock(64, norm="in") for _ in range(4)))
        self.aspp = ASPP(64)
        init_kaiming(self)

    def forward(self, mesh: torch.Tensor) -> torch.Tensor:
        """Structure map of a (B, 1, H, W) mesh image normalised to [-1, 1]."""
        return self.aspp(self.res(self.stem(mesh)))
