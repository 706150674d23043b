"""GCL's view-invariant losses (paper eqs. 6-8) and the contrast-only ablation loss.

Each term is a (K+1)-way cross-entropy with the positive logit at index 0, which equals the
paper's `log(1 + Σ_i exp(s_i/τ) / exp(s_pos/τ))`. Memory entries carry no gradient; features are
L2-normalised here, so every score is a cosine similarity. Negatives are scored against f_new
(against f for `L_vi^woGAN`), gathered from one B×N similarity matrix instead of B×K×512 copies.

Variants (`variant`):
- `paper`: one f_pos per anchor shared by L_vi and L''_vi; L'_vi's positive is sim(f_new, f)
  with the anchor's current feature f; negatives exclude outliers (see MemoryBank.sample).
- `reference` (chenhao2345/GCL): L'_vi's positive is the anchor's own memory slot
  sim(f_new, M[i]); L_vi's positive (scored with f) is drawn independently of L''_vi's;
  outliers count as negatives.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from reidkit.models.memory import MemoryBank, MemorySample, sample_positives

VARIANTS = ("paper", "reference")
TERMS = ("vi", "vi1", "vi2")


def info_nce(positive: torch.Tensor, negatives: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean (K+1)-way cross-entropy with the positive cosine at index 0."""
    logits = torch.cat([positive.unsqueeze(1), negatives], dim=1) / tau
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def _negatives(anchor: torch.Tensor, memory: MemoryBank, idx: torch.Tensor) -> torch.Tensor:
    """Cosines of each anchor to its own sampled negatives, (B, K)."""
    return (anchor @ memory.features.t()).gather(1, idx)


def _draw(memory: MemoryBank, indexes: torch.Tensor, generator: torch.Generator,
          num_negatives: int, variant: str) -> MemorySample:
    """Each anchor's positive and negatives as `variant` draws them (reference: outliers count
    as negatives), the one draw both losses make."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown loss variant {variant}; choose from {VARIANTS}")
    return memory.sample(indexes, num_negatives, generator,
                         outliers_as_negatives=variant == "reference")


def view_invariant_losses(
    f: torch.Tensor,
    f_new: torch.Tensor,
    memory: MemoryBank,
    indexes: torch.Tensor,
    generator: torch.Generator,
    *,
    tau: float = 0.04,
    num_negatives: int = 8192,
    variant: str = "paper",
    terms: tuple[str, ...] = TERMS,
) -> dict[str, torch.Tensor]:
    """L_vi, L'_vi, L''_vi (keys vi, vi1, vi2; only those in `terms`) for one batch."""
    draw = _draw(memory, indexes, generator, num_negatives, variant)
    f, f_new = F.normalize(f.float(), dim=1), F.normalize(f_new.float(), dim=1)
    reference = variant == "reference"
    bank = memory.features
    negatives = _negatives(f_new, memory, draw.negatives)
    losses: dict[str, torch.Tensor] = {}
    if "vi" in terms:
        pos = draw.positive
        if reference:
            pos = sample_positives(memory.labels, memory.labels[indexes], generator)
        losses["vi"] = info_nce((f * bank[pos]).sum(1), negatives, tau)
    if "vi1" in terms:
        target = bank[indexes] if reference else f
        losses["vi1"] = info_nce((f_new * target).sum(1), negatives, tau)
    if "vi2" in terms:
        losses["vi2"] = info_nce((f_new * bank[draw.positive]).sum(1), negatives, tau)
    return losses


def contrast_only_loss(
    f: torch.Tensor,
    memory: MemoryBank,
    indexes: torch.Tensor,
    generator: torch.Generator,
    *,
    tau: float = 0.04,
    num_negatives: int = 8192,
    variant: str = "paper",
) -> torch.Tensor:
    """L_vi^woGAN: positive sim(f, f_pos), negatives scored against f (Table 3, no generation)."""
    draw = _draw(memory, indexes, generator, num_negatives, variant)
    f = F.normalize(f.float(), dim=1)
    positive = (f * memory.features[draw.positive]).sum(1)
    return info_nce(positive, _negatives(f, memory, draw.negatives), tau)
