"""Losses and memory updates shared by the warm-up baselines (all vectorised over the batch).

Features passed in are L2-normalised unless a docstring says otherwise.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


# --- memory bank ---------------------------------------------------------------------------
@torch.no_grad()
def memory_update(
    memory: torch.Tensor, indices: torch.Tensor, feats: torch.Tensor, momentum: float
) -> None:
    """In place: M[i] ← normalize(momentum·M[i] + (1 − momentum)·f_i) (momentum = old weight)."""
    mixed = momentum * memory[indices] + (1.0 - momentum) * feats.detach().to(memory.dtype)
    memory[indices] = F.normalize(mixed, dim=1)


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, alpha: float) -> None:
    """Momentum encoder: θ_m ← α·θ_m + (1 − α)·θ_o for parameters only; its BN statistics are
    its own, gathered by its forward passes in train mode (ICE's code)."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(alpha).add_(s.detach(), alpha=1.0 - alpha)


# --- JVTC ----------------------------------------------------------------------------------
def local_consistency_loss(views: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """JVTC local consistency: views [B, V, D] (normalised); each view is classified among the
    batch's B per-image prototypes (normalised mean of its views) with temperature beta."""
    b, v, _ = views.shape
    prototypes = F.normalize(views.mean(dim=1), dim=1)
    logits = views.reshape(b * v, -1) @ prototypes.t() / beta
    target = torch.arange(b, device=views.device).repeat_interleave(v)
    return F.cross_entropy(logits, target)


def memory_multilabel_loss(
    feats: torch.Tensor,
    indices: torch.Tensor,
    memory: torch.Tensor,
    memory_labels: torch.Tensor,
    beta: float = 0.05,
) -> torch.Tensor:
    """JVTC global consistency: softmax over all memory rows (temperature beta); the target is
    uniform over the rows sharing the anchor's pseudo label (only its own row for an outlier)."""
    log_p = F.log_softmax(feats @ memory.t() / beta, dim=1)
    anchor_labels = memory_labels[indices]
    positive = (memory_labels.unsqueeze(0) == anchor_labels.unsqueeze(1)) & (
        anchor_labels.unsqueeze(1) >= 0
    )
    positive[torch.arange(len(indices), device=feats.device), indices] = True
    positive = positive.to(log_p.dtype)
    return -((log_p * positive).sum(1) / positive.sum(1)).mean()


# --- MMCL ----------------------------------------------------------------------------------
@torch.no_grad()
def mplp_labels(
    memory: torch.Tensor,
    indices: torch.Tensor,
    t: float = 0.6,
    min_candidates: int = 10,
    max_candidates: int = 64,
    chunk: int = 16,
) -> torch.Tensor:
    """MMCL's memory-based positive label prediction (bool [B, N]).

    Candidates: memory rows ranked by similarity to the anchor, the first
    k_i = max(#sim > t, min_candidates) of them (at most max_candidates). Cycle consistency:
    walking down the ranking, candidate j is kept while the anchor ranks within the first k_i of
    every candidate's own ranking up to j; the positive set is that leading consistent run,
    capped at #sim > t. The anchor itself is always positive.
    """
    n = memory.shape[0]
    rows = []
    for start in range(0, len(indices), chunk):
        idx = indices[start : start + chunk]
        sims = memory[idx] @ memory.t()
        above = (sims > t).sum(1)
        counts = above.clamp(min=min_candidates).clamp(max=min(max_candidates, n))
        k = int(counts.max().item())
        top_idx = sims.topk(k, dim=1).indices
        cand_sims = memory[top_idx.reshape(-1)] @ memory.t()  # [b*k, N]
        to_anchor = cand_sims.view(len(idx), k, n).gather(2, idx.view(-1, 1, 1).expand(-1, k, 1))
        rank = (cand_sims.view(len(idx), k, n) > to_anchor).sum(2)  # anchor's rank for candidate
        cols = torch.arange(k, device=memory.device).unsqueeze(0)
        inside = cols < counts.unsqueeze(1)
        consistent = (rank < counts.unsqueeze(1)) | ~inside
        run = torch.cumprod(consistent.long(), dim=1).bool() & inside
        run &= cols < above.unsqueeze(1)
        labels = torch.zeros(len(idx), n, dtype=torch.bool, device=memory.device)
        labels.scatter_(1, top_idx, run)
        labels[torch.arange(len(idx), device=memory.device), idx] = True
        rows.append(labels)
    return torch.cat(rows)


def mmcl_loss(
    logits: torch.Tensor, positive: torch.Tensor, delta: float = 5.0, r: float = 0.01
) -> torch.Tensor:
    """MMCL: δ·mean over positives of (1 − s)² + mean over the hardest r-fraction of negatives of
    (1 + s)² (s = cosine similarity to memory rows), averaged over the batch."""
    pos = positive.to(logits.dtype)
    pos_term = ((1.0 - logits) ** 2 * pos).sum(1) / pos.sum(1).clamp(min=1)
    num_neg = (~positive).sum(1)
    num_hard = (r * num_neg.to(logits.dtype)).floor().long()
    k = int(num_hard.max().item())
    if k == 0:
        return delta * pos_term.mean()
    neg_logits = logits.masked_fill(positive, float("-inf"))
    hard = neg_logits.topk(k, dim=1).values
    keep = torch.arange(k, device=logits.device).unsqueeze(0) < num_hard.unsqueeze(1)
    hard_sq = torch.where(keep, (1.0 + hard) ** 2, torch.zeros_like(hard))
    neg_term = hard_sq.sum(1) / num_hard.clamp(min=1).to(logits.dtype)
    return (delta * pos_term + neg_term).mean()


# --- ICE -----------------------------------------------------------------------------------
def cluster_proxies(
    feats: torch.Tensor,
    labels: torch.Tensor,
    cams: torch.Tensor | None = None,
    *,
    normalise: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean feature per cluster (cams None) or per (cluster, camera) pair, unit-normalised unless
    `normalise` is False (ICE's camera-agnostic centres are plain means of unit features).

    Returns (proxies [P, D], proxy cluster ids [P], proxy camera ids [P] (−1 when agnostic));
    outliers (label −1) are ignored. Cluster ids must be 0..C−1.
    """
    keep = labels >= 0
    feats, labels = feats[keep], labels[keep]
    if cams is None:
        key = labels
        num = int(labels.max().item()) + 1 if len(labels) else 0
        proxy_cluster = torch.arange(num, device=feats.device)
        proxy_cam = torch.full((num,), -1, dtype=torch.long, device=feats.device)
    else:
        cams = cams[keep]
        ncam = int(cams.max().item()) + 1
        pair = labels * ncam + cams
        uniq, key = torch.unique(pair, return_inverse=True)
        num = len(uniq)
        proxy_cluster, proxy_cam = uniq // ncam, uniq % ncam
    sums = torch.zeros(num, feats.shape[1], dtype=feats.dtype, device=feats.device)
    sums.index_add_(0, key, feats)
    if normalise:
        return F.normalize(sums, dim=1), proxy_cluster, proxy_cam
    counts = torch.bincount(key, minlength=num).clamp(min=1).to(feats.dtype)
    return sums / counts.unsqueeze(1), proxy_cluster, proxy_cam


def agnostic_proxy_loss(
    feats: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    tau: float = 0.5,
    smoothing: float = 0.1,
) -> torch.Tensor:
    """ICE eq. 5 as its code computes it: `feats` is the raw (not normalised) BN-neck output, the
    proxies the plain cluster means of unit momentum features; CE with label smoothing."""
    return label_smoothing_ce(feats @ proxies.t() / tau, labels, smoothing)


def cross_camera_proxy_loss(
    feats: torch.Tensor,
    labels: torch.Tensor,
    cams: torch.Tensor,
    proxies: torch.Tensor,
    proxy_cluster: torch.Tensor,
    proxy_cam: torch.Tensor,
    tau: float = 0.07,
    num_neg: int = 50,
) -> torch.Tensor:
    """ICE eq. 7 (the paper): for an anchor of cluster a in camera b, each proxy of a in another
    camera is a positive, scored against the num_neg nearest proxies of other clusters (one
    softmax of num_neg + 1 entries per positive), averaged over positives; anchors with no
    cross-camera positive do not count."""
    sims, same = _proxy_scores(feats, labels, proxies, proxy_cluster, tau)
    positive = same & (proxy_cam.unsqueeze(0) != cams.unsqueeze(1))
    neg_lse = torch.logsumexp(_nearest_negatives(sims, same, num_neg), dim=1)
    log_prob = sims - torch.logaddexp(sims, neg_lse.unsqueeze(1))
    count = positive.sum(1)
    valid = count > 0
    if not valid.any():
        return sims.sum() * 0.0
    per_anchor = -(log_prob * positive).sum(1)[valid] / count[valid]
    return per_anchor.mean()


def camera_sum_proxy_loss(
    feats: torch.Tensor,
    labels: torch.Tensor,
    cams: torch.Tensor,
    proxies: torch.Tensor,
    proxy_cluster: torch.Tensor,
    tau: float = 0.07,
    num_neg: int = 50,
) -> torch.Tensor:
    """L_cross as ICE's public code computes it: one softmax per anchor over every proxy of its
    cluster (all cameras, its own included; uniform target) and the num_neg nearest proxies of
    other clusters; the mean over each camera's anchors, summed over the cameras in the batch."""
    sims, same = _proxy_scores(feats, labels, proxies, proxy_cluster, tau)
    entries = torch.cat([sims.masked_fill(~same, float("-inf")),
                         _nearest_negatives(sims, same, num_neg)], dim=1)
    log_prob = sims - torch.logsumexp(entries, dim=1, keepdim=True)
    per_anchor = -(log_prob * same).sum(1) / same.sum(1).clamp(min=1)
    _, camera = torch.unique(cams, return_inverse=True)
    sums = torch.zeros(int(camera.max()) + 1, dtype=sims.dtype, device=sims.device)
    sums.index_add_(0, camera, per_anchor)
    return (sums / torch.bincount(camera).to(sims.dtype)).sum()


def _proxy_scores(
    feats: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    proxy_cluster: torch.Tensor,
    tau: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """What both forms of ICE's L_cross score: each anchor's similarity to every proxy over τ,
    and which proxies belong to the anchor's own cluster."""
    return feats @ proxies.t() / tau, proxy_cluster.unsqueeze(0) == labels.unsqueeze(1)


def _nearest_negatives(sims: torch.Tensor, same: torch.Tensor, num_neg: int) -> torch.Tensor:
    """The num_neg largest scores of each row outside its own cluster (fewer if fewer exist)."""
    k = min(num_neg, int((~same).sum(1).min().item()))
    if k == 0:
        return sims.new_full((len(sims), 1), float("-inf"))
    return sims.masked_fill(same, float("-inf")).topk(k, dim=1).values


def hard_instance_loss(
    feats: torch.Tensor, momentum_feats: torch.Tensor, labels: torch.Tensor, tau: float = 0.1
) -> torch.Tensor:
    """ICE eq. 9: the anchor's hardest (least similar) same-label momentum feature in the batch
    against all different-label momentum features of the batch."""
    sims = feats @ momentum_feats.t() / tau
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest = sims.masked_fill(~same, float("inf")).min(dim=1).values
    negatives = torch.logsumexp(sims.masked_fill(same, float("-inf")), dim=1)
    return (torch.logaddexp(hardest, negatives) - hardest).mean()


def soft_instance_loss(
    feats: torch.Tensor,
    momentum_strong: torch.Tensor,
    momentum_weak: torch.Tensor,
    tau: float = 0.4,
    direction: str = "ref",
) -> torch.Tensor:
    """ICE eq. 12 with the code's views: P = softmax(f_A·m_j/τ) (online view 1 against the
    momentum features of strong view 2), Q = softmax(w_A·w_j/τ) (momentum, weak view); KL(Q‖P)
    as the public code computes it (`ref`) or KL(P‖Q) as the paper writes it (`paper`)."""
    log_p = F.log_softmax(feats @ momentum_strong.t() / tau, dim=1)
    log_q = F.log_softmax(momentum_weak @ momentum_weak.t() / tau, dim=1).detach()
    if direction == "paper":
        return (log_p.exp() * (log_p - log_q)).sum(1).mean()
    if direction == "ref":
        return (log_q.exp() * (log_q - log_p)).sum(1).mean()
    raise ValueError(f"unknown KL direction {direction}")


# --- Cluster-Contrast ----------------------------------------------------------------------
def centroid_contrast_loss(
    feats: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor, tau: float = 0.05
) -> torch.Tensor:
    """Cluster-Contrast's InfoNCE over the cluster memory: −log softmax(f·c / τ) at the anchor's
    own centroid, every other centroid a negative (feats and centroids normalised)."""
    return F.cross_entropy(feats @ centroids.t() / tau, labels)


@torch.no_grad()
def centroid_update(
    centroids: torch.Tensor,
    labels: torch.Tensor,
    feats: torch.Tensor,
    momentum: float,
    *,
    hard: bool = False,
) -> None:
    """In place: c_y ← normalize(m·c_y + (1 − m)·f) for each batch feature f of label y, in batch
    order (the code's per-sample loop: a centroid seen k times is updated k times); `hard` uses
    only each label's least similar feature, once (the code's cm_hard)."""
    feats = feats.detach().to(centroids.dtype)
    if hard:
        uniq, group = torch.unique(labels, return_inverse=True)
        sims = (feats * centroids[labels]).sum(1)
        lowest = sims.new_full((len(uniq),), float("inf")).scatter_reduce(0, group, sims, "amin")
        at_min = sims == lowest[group]
        order = torch.arange(len(labels), device=labels.device)
        first = order.new_full((len(uniq),), len(labels))
        first = first.scatter_reduce(0, group[at_min], order[at_min], "amin")
        centroids[uniq] = F.normalize(momentum * centroids[uniq] + (1 - momentum) * feats[first])
        return
    for rows in _occurrence_rounds(labels):
        mixed = momentum * centroids[labels[rows]] + (1 - momentum) * feats[rows]
        centroids[labels[rows]] = F.normalize(mixed, dim=1)


def _occurrence_rounds(labels: torch.Tensor) -> list[torch.Tensor]:
    """Batch positions grouped by how many earlier positions share their label: round r holds
    each label's (r+1)-th occurrence, so one round's labels are distinct."""
    order = torch.argsort(labels, stable=True)
    _, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    occurrence = torch.empty_like(order)
    occurrence[order] = torch.arange(len(labels), device=labels.device) - starts.repeat_interleave(
        counts
    )
    return [torch.nonzero(occurrence == r).flatten() for r in range(int(counts.max()))]


# --- supervised source pre-training ---------------------------------------------------------
def label_smoothing_ce(
    logits: torch.Tensor, targets: torch.Tensor, eps: float = 0.1
) -> torch.Tensor:
    """Cross-entropy with label smoothing: target (1 − ε) on the class, ε/C spread over all."""
    log_p = F.log_softmax(logits, dim=1)
    smooth = torch.full_like(log_p, eps / logits.shape[1])
    smooth.scatter_(1, targets.unsqueeze(1), 1.0 - eps + eps / logits.shape[1])
    return -(smooth * log_p).sum(1).mean()


def batch_hard_triplet(
    feats: torch.Tensor, labels: torch.Tensor, margin: float = 0.3
) -> torch.Tensor:
    """Batch-hard triplet loss on Euclidean distances: hardest positive vs hardest negative."""
    dist = torch.cdist(feats, feats)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest_pos = dist.masked_fill(~same, float("-inf")).max(1).values
    hardest_neg = dist.masked_fill(same, float("inf")).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin).mean()
