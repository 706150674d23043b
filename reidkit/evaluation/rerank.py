"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), same numbers as the reference code, memory-
conscious: no dense (Q+G)² matrix is built besides the caller's own inputs.

The reference builds the full (Q+G)² distance, its argsort, and a dense V of the same size
(three matrices of 1.5 GB each for Market). Here the distance is read in row blocks (from the
given matrices, or computed by `re_ranking_features` / `re_ranking_distance`, which never hold a
G×G matrix), only the first k1+1 neighbours of each row are kept, V is sparse (a row has a few dozen
non-zeros), query expansion is a sparse product, and the Jaccard term is a join of the sparse
entries on their column. Peak memory: the Q×G output plus O(rows·(Q+G)) per block.

Like the reference, the input distances are squared and each row divided by its maximum before
use (the "original distance" of the λ term).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from reidkit.errors import ConfigError

RowFn = Callable[[int, int], torch.Tensor]


def _tensor(values: Any) -> torch.Tensor:
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    return tensor.to(torch.float32)


def _matrix_rows(q_g: torch.Tensor, q_q: torch.Tensor, g_g: torch.Tensor) -> RowFn:
    """Rows [start, end) of [[q_q, q_g], [q_gᵀ, g_g]] without building it."""
    num_q = q_g.shape[0]

    def rows(start: int, end: int) -> torch.Tensor:
        parts = []
        if start < num_q:
            stop = min(end, num_q)
            parts.append(torch.cat([q_q[start:stop], q_g[start:stop]], 1))
        if end > num_q:
            lo, hi = max(start, num_q) - num_q, end - num_q
            parts.append(torch.cat([q_g[:, lo:hi].T, g_g[lo:hi]], 1))
        return torch.cat(parts)

    return rows


def _unit_feature_distance(a: torch.Tensor, b: torch.Tensor, *_: Any) -> torch.Tensor:
    """Squared Euclidean distance 2 − 2·cos between L2-normalised features."""
    return (2 - 2 * a @ b.T).clamp_(min=0)


def _distance_rows(distance: Callable[..., torch.Tensor], features: torch.Tensor,
                   records: list[Any]) -> RowFn:
    """Rows of any pairwise `distance(a, b, a_records, b_records)` (e.g. the JVTC+ joint one)."""

    def rows(start: int, end: int) -> torch.Tensor:
        return distance(features[start:end], features, records[start:end], records).float()

    return rows


def _normalised(rows: RowFn, start: int, end: int) -> torch.Tensor:
    """The reference's "original distance": squared, divided by the row maximum."""
    dist = rows(start, end).to(torch.float32).pow(2)
    return dist / dist.max(1, keepdim=True).values


def _neighbours(rows: RowFn, num_all: int, k: int, block: int) -> torch.Tensor:
    """Indices of the k nearest items of every row (self included), nearest first."""
    out = []
    for start in range(0, num_all, block):
        dist = _normalised(rows, start, min(start + block, num_all))
        out.append(dist.topk(min(k, num_all), dim=1, largest=False, sorted=True).indices)
    return torch.cat(out)


def _reciprocal(knn: torch.Tensor, k: int, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """R(i, k): the first k+1 neighbours of i and a mask of those having i among their own."""
    forward = knn[:, : k + 1]
    mask = torch.empty_like(forward, dtype=torch.bool)
    for start in range(0, len(knn), block):
        end = min(start + block, len(knn))
        own = torch.arange(start, end, device=knn.device)[:, None, None]
        mask[start:end] = (forward[forward[start:end]] == own).any(2)
    return forward, mask


def _sparse_v(rows: RowFn, knn: torch.Tensor, k1: int, block: int) -> torch.Tensor:
    """V: softmax(−d) of each row over its expanded k-reciprocal set, as a sparse matrix."""
    num_all = len(knn)
    fwd, fmask = _reciprocal(knn, k1, block)
    half = int(np.around(k1 / 2.0))
    hfwd, hmask = _reciprocal(knn, half, block)
    entries_r, entries_c, entries_v = [], [], []
    for start in range(0, num_all, block):
        end = min(start + block, num_all)
        own, own_mask = fwd[start:end], fmask[start:end]
        cand_sets, cand_masks = hfwd[own], hmask[own]  # R(j, k1/2) of every candidate j
        inside = (cand_sets[..., None] == own[:, None, None, :]) & own_mask[:, None, None, :]
        overlap = (inside.any(-1) & cand_masks).sum(-1)
        chosen = own_mask & (3 * overlap > 2 * cand_masks.sum(-1))
        hits = torch.zeros(end - start, num_all, dtype=torch.int32, device=knn.device)
        hits.scatter_add_(1, own, own_mask.int())
        expand = cand_masks & chosen[..., None]
        hits.scatter_add_(1, cand_sets.flatten(1), expand.flatten(1).int())
        members = hits > 0
        weight = torch.exp(-_normalised(rows, start, end)) * members
        weight = weight / weight.sum(1, keepdim=True)
        r, c = members.nonzero(as_tuple=True)
        entries_r.append(r + start)
        entries_c.append(c)
        entries_v.append(weight[r, c])
    indices = torch.stack([torch.cat(entries_r), torch.cat(entries_c)])
    return _sparse(indices, torch.cat(entries_v), num_all)


def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten the index ranges [starts[i], starts[i] + counts[i]): (owner i, index) per element."""
    owner = torch.arange(len(counts), device=counts.device).repeat_interleave(counts)
    first = torch.cumsum(counts, 0) - counts
    within = torch.arange(len(owner), device=counts.device) - first[owner]
    return owner, starts[owner] + within


def _query_expansion(v: torch.Tensor, knn: torch.Tensor, k2: int) -> torch.Tensor:
    """V_i ← mean of V over i's first k2 neighbours: gather their rows, sum duplicates."""
    num_all = len(knn)
    (rows, cols), values = v.indices(), v.values()
    counts = torch.bincount(rows, minlength=num_all)
    row_start = torch.cumsum(counts, 0) - counts
    source = knn[:, :k2].flatten()
    owner, entry = _ranges(row_start[source], counts[source])
    indices = torch.stack([owner // k2, cols[entry]])
    return _sparse(indices, values[entry] / k2, num_all)


def _sparse(indices: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """A coalesced n×n sparse matrix (duplicates summed)."""
    return torch.sparse_coo_tensor(indices, values, (n, n), check_invariants=False).coalesce()


def _jaccard(v: torch.Tensor, num_q: int, max_pairs: int) -> torch.Tensor:
    """Σ_j min(V_qj, V_gj) for every query q and gallery item g, by joining entries on j."""
    (rows, cols), values = v.indices(), v.values()
    num_all, num_g = v.shape[0], v.shape[0] - num_q
    is_q = rows < num_q
    q_rows, q_cols, q_vals = rows[is_q], cols[is_q], values[is_q]
    g_rows, g_cols, g_vals = rows[~is_q] - num_q, cols[~is_q], values[~is_q]
    order = torch.argsort(g_cols, stable=True)
    g_rows, g_vals = g_rows[order], g_vals[order]
    counts = torch.bincount(g_cols, minlength=num_all)
    col_start = torch.cumsum(counts, 0) - counts
    pairs = torch.cumsum(counts[q_cols], 0)
    out = torch.zeros(num_q * num_g, dtype=torch.float32, device=values.device)
    start = 0
    while start < len(q_rows):
        done = int(pairs[start - 1]) if start else 0
        stop = max(int(torch.searchsorted(pairs, done + max_pairs, right=True)), start + 1)
        owner, partner = _ranges(col_start[q_cols[start:stop]], counts[q_cols[start:stop]])
        owner = owner + start
        smaller = torch.minimum(q_vals[owner], g_vals[partner])
        out.index_add_(0, q_rows[owner] * num_g + g_rows[partner], smaller)
        start = stop
    return out.view(num_q, num_g)


def _re_rank(
    rows: RowFn, num_q: int, num_all: int, k1: int, k2: int, lambda_value: float, block: int
) -> torch.Tensor:
    if k1 < 1 or k2 < 1 or k2 > k1 + 1:
        raise ConfigError(f"re-ranking needs k1 ≥ 1 and 1 ≤ k2 ≤ k1 + 1 (got k1={k1}, k2={k2})")
    knn = _neighbours(rows, num_all, k1 + 1, block)
    v = _sparse_v(rows, knn, k1, block)
    if k2 != 1:
        v = _query_expansion(v, knn, k2)
    overlap = _jaccard(v, num_q, max_pairs=1 << 22)
    final = 1 - overlap / (2 - overlap)
    for start in range(0, num_q, block):
        end = min(start + block, num_q)
        original = _normalised(rows, start, end)[:, num_q:]
        final[start:end] = final[start:end] * (1 - lambda_value) + original * lambda_value
    return final


def re_ranking(
    q_g: Any, q_q: Any, g_g: Any, k1: int = 20, k2: int = 6, lambda_value: float = 0.3,
    *, block: int = 512,
) -> torch.Tensor:
    """Re-ranked query × gallery distance from the three distance matrices (NumPy or torch)."""
    q_g, q_q, g_g = _tensor(q_g), _tensor(q_q), _tensor(g_g)
    num_q, num_g = q_g.shape
    return _re_rank(_matrix_rows(q_g, q_q, g_g), num_q, num_q + num_g, k1, k2, lambda_value, block)


def re_ranking_features(
    query: torch.Tensor, gallery: torch.Tensor, k1: int = 20, k2: int = 6,
    lambda_value: float = 0.3, *, block: int = 512,
) -> torch.Tensor:
    """Re-ranking from L2-normalised features with squared Euclidean distance (= 2 − 2·cos),
    computing distance rows on the fly: same result as `re_ranking` on those matrices."""
    query, gallery = query.to(torch.float32), gallery.to(torch.float32)
    return re_ranking_distance(_unit_feature_distance, query, gallery, [None] * len(query),
                               [None] * len(gallery), k1, k2, lambda_value, block=block)


def re_ranking_distance(
    distance: Callable[..., torch.Tensor], query: torch.Tensor, gallery: torch.Tensor,
    query_records: list[Any], gallery_records: list[Any], k1: int = 20, k2: int = 6,
    lambda_value: float = 0.3, *, block: int = 512,
) -> torch.Tensor:
    """Re-ranking under a custom distance of features and records, computed in row blocks: same
    result as `re_ranking` on the three matrices, without ever holding a G×G one."""
    features = torch.cat([query, gallery])
    records = list(query_records) + list(gallery_records)
    return _re_rank(_distance_rows(distance, features, records), len(query), len(features),
                    k1, k2, lambda_value, block)
