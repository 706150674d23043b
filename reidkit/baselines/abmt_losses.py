"""ABMT's losses (thesis eq. 4.1–4.7), vectorised over the batch: the cross-branch soft
cross-entropy, the MMT-style soft triplet, the soft-margin triplet of the code's source stage,
and the mean-teacher smoothing coefficient."""

from __future__ import annotations

import torch
from torch.nn import functional as F

EMA_VARIANTS = ("paper", "ref")


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """−Σ_c P_teacher(c)·log P_student(c), batch mean (eq. 4.4/4.5); the teacher's softmax is a
    fixed target."""
    target = F.softmax(teacher_logits.detach(), dim=1)
    return -(target * F.log_softmax(student_logits, dim=1)).sum(1).mean()


def _hardest(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor: the index of its farthest same-label and nearest other-label sample."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    positive = dist.masked_fill(~same, float("-inf")).argmax(1)
    negative = dist.masked_fill(same, float("inf")).argmin(1)
    return positive, negative


def soft_triplet(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """MMT's soft triplet (eq. 4.6/4.7) on pre-BN features: hardest positive and negative mined
    on the student's Euclidean distances; the student's softmax over (d_ap, d_an) is pulled to
    the teacher's softmax over its own distances at the same indices (2-way soft CE)."""
    rows = torch.arange(len(labels), device=labels.device)
    dist = torch.cdist(student, student)
    positive, negative = _hardest(dist.detach(), labels)
    pair = torch.stack([dist[rows, positive], dist[rows, negative]], dim=1)
    with torch.no_grad():
        ref = torch.cdist(teacher, teacher)
        target = F.softmax(torch.stack([ref[rows, positive], ref[rows, negative]], dim=1), dim=1)
    return -(target * F.log_softmax(pair, dim=1)).sum(1).mean()


def soft_margin_triplet(feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Batch-hard triplet with a soft margin, log(1 + exp(d_ap − d_an)) (the code's stage 1)."""
    rows = torch.arange(len(labels), device=labels.device)
    dist = torch.cdist(feats, feats)
    positive, negative = _hardest(dist.detach(), labels)
    return F.softplus(dist[rows, positive] - dist[rows, negative]).mean()


def ema_alpha(step: int, alpha: float, variant: str = "paper") -> float:
    """Mean-teacher smoothing at 0-based update `step`: α (eq. 4.3, the teacher starting as a
    copy of the student) or the code's min(1 − 1/(step + 1), α), a plain average early on."""
    if variant == "ref":
        return min(1.0 - 1.0 / (step + 1), alpha)
    return alpha
