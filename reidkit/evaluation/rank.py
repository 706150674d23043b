"""CMC, mAP and mINP under the field's protocol, vectorised over queries (no per-query loop).

For each query, gallery items with the same pid AND the same camera are removed, as are pid −1
items; queries left with no correct match are skipped and counted. AP is non-interpolated
(Σ_k precision@k · rel_k / num_rel); mINP (fast-reid) is num_rel / rank of the last match.

No row is sorted: only the ranks of the correct matches matter. Each query's matches come from
a pid → gallery-index table (a few dozen distances, sorted); one comparison pass over the
query's distance row keeps the items closer than its last match (usually a handful), which are
merged with the match distances by sorting those few values: the non-matches before the k-th
match give rank_k = that count + k. Work is one comparison per distance plus a sort of the few
kept items, instead of a sort of every row. A non-match at exactly the distance of a match is
ranked after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def _same_pid_table(q_pids: torch.Tensor, g_pids: torch.Tensor) -> torch.Tensor:
    """[Q, width] gallery indices sharing each query's pid, −1 padded (none for junk queries).

    Only gallery items of pids some query has are grouped, so distractor pids cost nothing.
    """
    device = g_pids.device
    wanted = torch.isin(g_pids, q_pids) & (g_pids != JUNK_PID)
    index = torch.nonzero(wanted).flatten()
    order = index[torch.argsort(g_pids[index], stable=True)]
    pids, counts = torch.unique_consecutive(g_pids[order], return_counts=True)
    if len(pids) == 0:
        return torch.full((len(q_pids), 1), -1, dtype=torch.int64, device=device)
    starts = torch.cumsum(counts, 0) - counts
    group = torch.repeat_interleave(torch.arange(len(counts), device=device), counts)
    table = torch.full((len(counts), int(counts.max())), -1, dtype=torch.int64, device=device)
    table[group, torch.arange(len(order), device=device) - starts[group]] = order
    pos = torch.searchsorted(pids, q_pids).clamp(max=len(pids) - 1)
    found = (pids[pos] == q_pids) & (q_pids != JUNK_PID)
    return torch.where(found[:, None], table[pos], -1)


def _chunk_scores(
    dist: torch.Tensor, qp: torch.Tensor, qc: torch.Tensor, gp: torch.Tensor, gc: torch.Tensor,
    same_pid: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a block of queries: number of correct matches, rank of the first match, AP and INP.

    `same_pid` holds each query's same-pid gallery indices (−1 padded); matches are those on
    another camera. The non-matches that stay in the ranking are the gallery items of another
    pid that are not junk.
    """
    rows, device = len(dist), dist.device
    inf = torch.tensor(float("inf"), dtype=dist.dtype, device=device)
    is_match = (same_pid >= 0) & (gc[same_pid.clamp(min=0)] != qc[:, None])
    num_rel = is_match.sum(1)
    m = int(num_rel.max()) if rows else 0
    if m == 0:
        zeros = torch.zeros(rows, dtype=torch.float64, device=device)
        return num_rel, zeros, zeros, zeros
    rel = torch.where(is_match, dist.gather(1, same_pid.clamp(min=0)), inf)
    rel = rel.sort(1).values[:, :m].contiguous()  # r_1 ≤ ... ≤ r_m, inf padded
    last = rel.gather(1, (num_rel - 1).clamp(min=0)[:, None])
    last = torch.where(num_rel[:, None] > 0, last, -inf)
    r, c = torch.nonzero(dist < last, as_tuple=True)  # items ranked before the last match
    other = (gp[c] != qp[r]) & (gp[c] != JUNK_PID)
    r, values = r[other], dist[r[other], c[other]]
    t_row, t_k = torch.nonzero(torch.arange(m, device=device)[None, :] < num_rel[:, None],
                               as_tuple=True)
    # Merge non-matches and match distances per query: order by (query, distance), a match
    # before a non-match at the same distance; the non-matches before the k-th match are then
    # its position in the query's run minus k.
    rows_all = torch.cat([r, t_row])
    is_t = torch.cat([torch.zeros_like(r), torch.ones_like(t_row)])
    order = torch.argsort(is_t, descending=True, stable=True)
    keys = torch.cat([values, rel[t_row, t_k]])
    order = order[torch.argsort(keys[order], stable=True)]
    order = order[torch.argsort(rows_all[order], stable=True)]
    sorted_t = is_t[order]
    run_start = torch.cumsum(torch.bincount(rows_all, minlength=rows), 0)
    run_start = run_start - torch.bincount(rows_all, minlength=rows)
    position = torch.arange(len(order), device=device) - run_start[rows_all[order]]
    at_t = order[sorted_t == 1] - len(r)  # index into (t_row, t_k), in merged order
    before = position[sorted_t == 1] - t_k[at_t]
    ranks = torch.zeros(rows, m, dtype=torch.float64, device=device)
    ranks[t_row[at_t], t_k[at_t]] = before.to(torch.float64)
    k = torch.arange(1, m + 1, device=device, dtype=torch.float64)
    ranks = ranks + k
    counted = k[None, :] <= num_rel[:, None]
    denom = num_rel.clamp(min=1).to(torch.float64)
    ap = torch.where(counted, k / ranks, 0.0).sum(1) / denom
    last_rank = ranks.gather(1, (num_rel - 1).clamp(min=0)[:, None]).squeeze(1)
    return num_rel, ranks[:, 0], ap, num_rel.to(torch.float64) / last_rank


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """On CPU, run with one torch thread: the work is one memory-bound pass plus many small ops,
    where thread hand-offs cost more than they give (10× the CPU time with 2 threads on a busy
    2-core machine). The caller's thread count is restored."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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

    Queries are processed in blocks of about `chunk_elements` distances to bound memory
    (the kept items of a block are at most that many).
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
    rows = min(num_q, max(1, chunk_elements // max(num_g, 1)))
    with _one_cpu_thread(device):
        same_pid = _same_pid_table(qp, gp)
        for start in range(0, num_q, rows):
            end = min(start + rows, num_q)
            num_rel, first, ap, inp = _chunk_scores(
                dist[start:end], qp[start:end], qc[start:end], gp, gc, same_pid[start:end]
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
