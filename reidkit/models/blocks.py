"""Building blocks shared by E_str, G and D, laid out as GCL's networks (pad → conv → norm →
activation) so that the authors' checkpoints map tensor by tensor."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.2


class LayerNorm(nn.Module):
    """GCL's layer norm: per sample over (C, H, W), divided by (unbiased std + eps), then a
    per-channel affine `gamma`, `beta` (gamma starts uniform in [0, 1) as in the reference)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each sample over all its values, then scale and shift per channel."""
        flat = x.reshape(x.shape[0], -1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        mean = flat.mean(1).view(shape)
        std = flat.std(1).view(shape)
        x = (x - mean) / (std + self.eps)
        channel = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.gamma.view(channel) + self.beta.view(channel)


def adain(
    x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Adaptive instance norm: instance-normalise x (B, C, H, W), then apply per-sample,
    per-channel scale and bias (B, C) predicted from the identity code."""
    x = F.instance_norm(x, eps=eps)
    return x * scale[:, :, None, None] + bias[:, :, None, None]


class ConvBlock(nn.Module):
    """Reflect pad → conv (bias) → norm (`none`, `in`, `ln`) → activation (`lrelu`, `none`)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        *,
        norm: str = "none",
        act: str = "lrelu",
        dilation: int = 1,
    ):
        super().__init__()
        self.pad = nn.ReflectionPad2d(padding) if padding else nn.Identity()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, dilation=dilation, bias=True)
        if norm == "in":
            self.norm: nn.Module = nn.InstanceNorm2d(out_ch)
        elif norm == "ln":
            self.norm = LayerNorm(out_ch)
        elif norm == "none":
            self.norm = nn.Identity()
        else:
            raise ValueError(f"unknown norm {norm}")
        if act not in ("lrelu", "none"):
            raise ValueError(f"unknown activation {act}")
        self.act = nn.LeakyReLU(LRELU_SLOPE, inplace=True) if act == "lrelu" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, convolve, normalise, activate."""
        return self.act(self.norm(self.conv(self.pad(x))))


class ResBlock(nn.Module):
    """x + [conv3×3 → norm → lrelu → conv3×3 → norm](x) (E_str uses IN, D no norm)."""

    def __init__(self, channels: int, norm: str = "none"):
        super().__init__()
        self.conv1 = ConvBlock(channels, channels, 3, 1, 1, norm=norm, act="lrelu")
        self.conv2 = ConvBlock(channels, channels, 3, 1, 1, norm=norm, act="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update."""
        return x + self.conv2(self.conv1(x))


class AdaINResBlock(nn.Module):
    """G's residual block: both norms are AdaIN, with scales and biases given per call."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvBlock(channels, channels, 3, 1, 1, norm="none", act="none")
        self.conv2 = ConvBlock(channels, channels, 3, 1, 1, norm="none", act="none")

    def forward(self, x: torch.Tensor, scales: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
        """`scales`, `biases`: (B, 2, C), one row per AdaIN layer of this block."""
        h = F.leaky_relu(adain(self.conv1(x), scales[:, 0], biases[:, 0]), LRELU_SLOPE)
        return x + adain(self.conv2(h), scales[:, 1], biases[:, 1])


def init_kaiming(module: nn.Module) -> None:
    """Generator init: Kaiming-normal (fan_in) conv and linear weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_gaussian(module: nn.Module, std: float = 0.02) -> None:
    """Discriminator init: N(0, std) conv weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
