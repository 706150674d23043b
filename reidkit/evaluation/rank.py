"""CMC, mAP and mINP under the field's protocol, vectorised over queries (no per-query loop).

For each query, gallery items with the same pid AND the same camera are removed, as are pid −1
items; queries left with no correct match are skipped and counted. AP is non-interpolated
(Σ_k precision@k · rel_k / num_rel); mINP (fast-reid) is num_rel / rank of the last match.

Instead of sorting each gallery row, the rank of every correct match is counted directly: the
query's m correct distances r_1 ≤ ... ≤ r_m are taken with topk, every other kept gallery item is
placed among them with `searchsorted`, and a per-row histogram gives how many non-matches precede
each r_k; rank_k = that count + k. Work is O(Q·G·log m) instead of O(Q·G·log G). A non-match at
exactly the same distance as a match is ranked after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from reidkit.errors import DatasetError

JUNK_PID = -1


@dataclass(frozen=True)
class RankResult:
    """Retrieval scores (fractions in [0, 1]) and how many queries counted."""

    cmc: np.ndarray = field(repr=False)
    mAP: float
    mINP: float
    valid_queries: int
    skipped_queries: int

    def as_dict(self, ranks: tuple[int, ...] = (1, 5, 10)) -> dict[str, Any]:
        """Plain dict with rank-k entries (`rank1`...), for tables, JSON and checkpoints."""
        out: dict[str, Any] = {"mAP": self.mAP, "mINP": self.mINP}
        for k in ranks:
            out[f"rank{k}"] = float(self.cmc[min(k, len(self.cmc)) - 1])
        out["valid_queries"] = self.valid_queries
        out["skipped_queries"] = self.skipped_queries
        return out


def _tensor(values: Any, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    return tensor.to(device=device, dtype=dtype or tensor.dtype)


def _chunk_scores(
    dist: torch.Tensor, qp: torch.Tensor, qc: torch.Tensor, gp: torch.Tensor, gc: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a block of queries: number of correct matches, rank of the first match, AP and INP."""
    same_pid = gp[None, :] == qp[:, None]
    keep = ~(same_pid & (gc[None, :] == qc[:, None])) & (gp[None, :] != JUNK_PID)
    match = same_pid & keep
    num_rel = match.sum(1)
    m = int(num_rel.max()) if len(num_rel) else 0
    if m == 0:
        zeros = torch.zeros(len(dist), dtype=torch.float64, device=dist.device)
        return num_rel, zeros, zeros, zeros
    inf = torch.tensor(float("inf"), dtype=dist.dtype, device=dist.device)
    rel = torch.where(match, dist, inf).topk(m, dim=1, largest=False, sorted=True).values
    others = torch.where(keep & ~match, dist, inf)
    slot = torch.searchsorted(rel.contiguous(), others.contiguous(), right=True)
    hist = torch.zeros(len(dist), m + 1, dtype=torch.int64, device=dist.device)
    hist.scatter_add_(1, slot, torch.ones_like(slot))
    k = torch.arange(1, m + 1, device=dist.device, dtype=torch.float64)
    ranks = hist.cumsum(1)[:, :m].to(torch.float64) + k
    counted = k[None, :] <= num_rel[:, None]
    denom = num_rel.clamp(min=1).to(torch.float64)
    ap = torch.where(counted, k / ranks, 0.0).sum(1) / denom
    last = ranks.gather(1, (num_rel - 1).clamp(min=0)[:, None]).squeeze(1)
    return num_rel, ranks[:, 0], ap, num_rel.to(torch.float64) / last


def evaluate_rank(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    max_rank: int = 50,
    *,
    chunk_elements: int = 1 << 22,
) -> RankResult:
    """Score a query × gallery distance matrix (NumPy or torch; runs where the tensor lives).

    Queries are processed in blocks of about `chunk_elements` distances to bound memory.
    """
    dist = distmat if isinstance(distmat, torch.Tensor) else torch.as_tensor(np.asarray(distmat))
    if not dist.is_floating_point():
        dist = dist.to(torch.float64)
    device = dist.device
    qp, gp = _tensor(q_pids, device, torch.int64), _tensor(g_pids, device, torch.int64)
    qc, gc = _tensor(q_camids, device, torch.int64), _tensor(g_camids, device, torch.int64)
    num_q, num_g = dist.shape
    if (len(qp), len(qc), len(gp), len(gc)) != (num_q, num_q, num_g, num_g):
        raise ValueError("pids/camids do not match the distance matrix shape")
    max_rank = max(1, min(max_rank, num_g))
    cmc = torch.zeros(max_rank, dtype=torch.float64, device=device)
    ap_sum = inp_sum = torch.zeros((), dtype=torch.float64, device=device)
    valid = 0
    thresholds = torch.arange(1, max_rank + 1, device=device, dtype=torch.float64)
    rows = max(1, chunk_elements // max(num_g, 1))
    for start in range(0, num_q, rows):
        end = min(start + rows, num_q)
        num_rel, first, ap, inp = _chunk_scores(
            dist[start:end], qp[start:end], qc[start:end], gp, gc
        )
        ok = num_rel > 0
        valid += int(ok.sum())
        cmc += (first[ok, None] <= thresholds[None, :]).sum(0)
        ap_sum = ap_sum + ap[ok].sum()
        inp_sum = inp_sum + inp[ok].sum()
    if valid == 0:
        raise DatasetError(
            f"none of the {num_q} queries has a correct match in the gallery "
            "(same identity, other camera)",
            fix="check that query and gallery share identities and carry camera ids",
        )
    return RankResult(
        cmc=(cmc / valid).cpu().numpy(),
        mAP=float(ap_sum / valid),
        mINP=float(inp_sum / valid),
        valid_queries=valid,
        skipped_queries=num_q - valid,
    )
