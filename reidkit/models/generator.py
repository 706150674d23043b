"""G, the AdaIN decoder: paints the identity code f_id onto the structure map f_str."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reidkit.models.blocks import LRELU_SLOPE, AdaINResBlock, ConvBlock, init_kaiming

NUM_CHUNKS = 4
NUM_RES = 4
ADAIN_LAYERS = 2 * NUM_RES


def id_chunk_of(g_state: dict[str, torch.Tensor]) -> int:
    """Identity-chunk length a G state dict was built for (its AdaIN MLPs' input width)."""
    return int(g_state["mlp_scale.0.fc1.weight"].shape[1])


class AdaINMLP(nn.Module):
    """One chunk of f_id → 256 AdaIN values (two layers × 128): Linear → lrelu → Linear → lrelu
    → Linear."""

    def __init__(self, in_dim: int, hidden: int = 512, out_dim: int = 256):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """AdaIN values predicted from one identity chunk."""
        x = F.leaky_relu(self.fc1(x), LRELU_SLOPE)
        x = F.leaky_relu(self.fc2(x), LRELU_SLOPE)
        return self.fc3(x)


class Generator(nn.Module):
    """Dropout(0) → 4 AdaIN residual blocks (128) → [×2, conv5×5 128→64, LN, lrelu] → [×2, conv5×5
    64→32, LN, lrelu] → conv3×3 ×2 (lrelu) → conv1×1 32→3 (no tanh: ImageNet-normalised output).

    The eight AdaIN layers take their scales from `mlp_scale[k]` and biases from `mlp_bias[k]`,
    k = chunk of f_id (chunk = part_dim / 4: 2048 for resnet50, 512 for resnet18); the four
    MLP outputs are concatenated and consumed 128 values per layer in block order.
    """

    def __init__(self, id_chunk: int = 2048, channels: int = 128, mlp_dim: int = 512):
        super().__init__()
        self.id_chunk, self.channels = id_chunk, channels
        per_mlp = ADAIN_LAYERS * channels // NUM_CHUNKS
        self.mlp_scale = nn.ModuleList(
            AdaINMLP(id_chunk, mlp_dim, per_mlp) for _ in range(NUM_CHUNKS)
        )
        self.mlp_bias = nn.ModuleList(
            AdaINMLP(id_chunk, mlp_dim, per_mlp) for _ in range(NUM_CHUNKS)
        )
        self.res = nn.ModuleList(AdaINResBlock(channels) for _ in range(NUM_RES))
        self.up1 = ConvBlock(channels, channels // 2, 5, 1, 2, norm="ln")
        self.up2 = ConvBlock(channels // 2, channels // 4, 5, 1, 2, norm="ln")
        self.conv1 = ConvBlock(channels // 4, channels // 4, 3, 1, 1)
        self.conv2 = ConvBlock(channels // 4, channels // 4, 3, 1, 1)
        self.out = ConvBlock(channels // 4, 3, 1, act="none")
        init_kaiming(self)

    @property
    def part_dim(self) -> int:
        """Length of the f_id this generator takes."""
        return NUM_CHUNKS * self.id_chunk

    def adain_params(self, f_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, biases), each (B, 8, C): row l feeds AdaIN layer l."""
        if f_id.shape[1] != self.part_dim:
            raise ValueError(f"G expects a {self.part_dim}-d part code, got {f_id.shape[1]}")
        chunks = f_id.split(self.id_chunk, dim=1)
        scales = torch.cat([mlp(c) for mlp, c in zip(self.mlp_scale, chunks, strict=True)], dim=1)
        biases = torch.cat([mlp(c) for mlp, c in zip(self.mlp_bias, chunks, strict=True)], dim=1)
        shape = (f_id.shape[0], ADAIN_LAYERS, self.channels)
        return scales.view(shape), biases.view(shape)

    def forward(self, f_str: torch.Tensor, f_id: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, 4h, 4w) in ImageNet-normalised space from f_str (B, 128, h, w)."""
        scales, biases = self.adain_params(f_id)
        x = f_str
        for i, block in enumerate(self.res):
            x = block(x, scales[:, 2 * i : 2 * i + 2], biases[:, 2 * i : 2 * i + 2])
        x = self.up1(F.interpolate(x, scale_factor=2, mode="nearest"))
        x = self.up2(F.interpolate(x, scale_factor=2, mode="nearest"))
        return self.out(self.conv2(self.conv1(x)))
