"""Global pooling of E_id's feature map: average (GCL, JVTC, ICE) or generalised mean (GeM, the
Cluster-Contrast code's default), whose exponent is learned and stored as `pool.p`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

POOLINGS = ("avg", "gem")


class GeM(nn.Module):
    """Generalised mean pooling (p = 1 is average pooling, p → ∞ max pooling); p starts at 3 and
    trains with the network, as in the Cluster-Contrast code (from fast-reid)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.full((1,), float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] → [B, C, 1, 1]: (mean over H×W of clamp(x, eps)^p)^(1/p)."""
        return F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1).pow(1.0 / self.p)
