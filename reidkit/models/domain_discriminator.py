"""DomainMix's domain discriminator (Wang et al., BMVC 2021, Fig. 5): which domain (synthetic 0,
real 1) an identity feature comes from."""

from __future__ import annotations

import torch
from torch import nn

WIDTHS = (1024, 512, 256)


class DomainDiscriminator(nn.Module):
    """FC1024-BN-LReLU(0.2) → FC512-BN-LReLU → FC256-BN-LReLU → FC2 over E_id's BN'd feature."""

    def __init__(self, in_dim: int, num_domains: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        for width in WIDTHS:
            layers += [nn.Linear(in_dim, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.2)]
            in_dim = width
        layers.append(nn.Linear(in_dim, num_domains))
        self.net = nn.Sequential(*layers)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Domain logits [B, num_domains]."""
        return self.net(feats)
