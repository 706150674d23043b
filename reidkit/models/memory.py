"""The memory bank of train-joint: one L2-normalised 512-d feature and one pseudo label per
training image, updated with momentum, from which every anchor draws its positive and negatives.

Sampling is vectorised over the whole batch (no Python loop per sample):
- positive: uniform over the memory entries that share the anchor's pseudo label. The anchor's
  own slot is one of them (the paper: "a random positive image that *usually* has a pose and
  camera style different from x"; the reference does the same).
- negatives: K = min(num_negatives, fewest negatives any anchor of the batch has) entries with a
  different label, uniform without replacement: every entry gets a random key and each anchor
  keeps the K smallest keys among its negatives. Outliers (label -1) are negatives only when
  `outliers_as_negatives` (the reference); the paper draws negatives from other pseudo identities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class MemorySample:
    """Memory indexes drawn for one batch: `positive` (B,), `negatives` (B, K)."""

    positive: torch.Tensor
    negatives: torch.Tensor


class MemoryBank(nn.Module):
    """N×dim features (L2-normalised) and N pseudo labels; buffers, so they travel in state_dict."""

    def __init__(self, num_samples: int, dim: int = 512, momentum: float = 0.2):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("features", torch.zeros(num_samples, dim))
        self.register_buffer("labels", torch.full((num_samples,), -1, dtype=torch.long))

    def __len__(self) -> int:
        return self.features.shape[0]

    @torch.no_grad()
    def init_features(self, features: torch.Tensor) -> None:
        """Fill the bank with the encoder's features of every training image (normalised here)."""
        if features.shape != self.features.shape:
            raise ValueError(
                f"expected features {tuple(self.features.shape)}, got {tuple(features.shape)}"
            )
        self.features.copy_(F.normalize(features.float(), dim=1))

    @torch.no_grad()
    def set_labels(self, labels: torch.Tensor) -> None:
        """Install this epoch's pseudo labels (-1 = outlier)."""
        self.labels.copy_(torch.as_tensor(labels, dtype=torch.long))

    @torch.no_grad()
    def update(self, indexes: torch.Tensor, f: torch.Tensor) -> None:
        """M[i] <- normalize(α·M[i] + (1-α)·normalize(f_i)) for the batch's original views.

        Indexes must be distinct within one call (the samplers never repeat an image in a batch).
        """
        f = F.normalize(f.detach().float(), dim=1)
        mixed = self.momentum * self.features[indexes] + (1.0 - self.momentum) * f
        self.features.index_copy_(0, indexes, F.normalize(mixed, dim=1))

    def sample(
        self,
        indexes: torch.Tensor,
        num_negatives: int,
        generator: torch.Generator,
        *,
        outliers_as_negatives: bool = False,
    ) -> MemorySample:
        """Draw one positive and K negatives for each anchor (memory index) of the batch."""
        labels = self.labels
        anchor_labels = labels[indexes]
        positive = sample_positives(labels, anchor_labels, generator)
        negative_mask = labels.unsqueeze(0) != anchor_labels.unsqueeze(1)
        if not outliers_as_negatives:
            negative_mask &= (labels >= 0).unsqueeze(0)
        available = int(negative_mask.sum(1).min())
        k = min(num_negatives, available)
        if k < 1:
            raise ValueError("no memory entry has a different pseudo label to contrast with")
        keys = torch.rand(negative_mask.shape, generator=generator, device=labels.device)
        keys = keys.masked_fill(~negative_mask, 2.0)
        negatives = keys.topk(k, dim=1, largest=False, sorted=True).indices
        return MemorySample(positive=positive, negatives=negatives)


def sample_positives(
    labels: torch.Tensor, anchor_labels: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """For each anchor label, one memory index drawn uniformly among entries with that label.

    Entries of one label are taken in index order and the u-th draw picks floor(u·count), so a
    straightforward per-anchor loop with the same uniform draws gives the same indexes.
    """
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    start = torch.searchsorted(sorted_labels, anchor_labels, right=False)
    count = torch.searchsorted(sorted_labels, anchor_labels, right=True) - start
    if bool((count == 0).any()):
        raise ValueError("an anchor's pseudo label is not present in the memory bank")
    u = torch.rand(anchor_labels.shape[0], generator=generator, device=labels.device)
    offset = torch.clamp((u * count).long(), max=count - 1)
    return order[start + offset]
