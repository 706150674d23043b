"""k-reciprocal Jaccard distance (SpCL lineage, used by GCL and ICE) as a sparse matrix.

Same formulas, in the same order, as the field's dense `compute_jaccard_distance`, but every
step is a sparse-matrix operation: the N×N arrays of the reference are never built, memory grows
linearly with N. Only pairs whose expanded sets overlap are stored; every other pair has distance
exactly 1 (see docs/clustering.md for the proof of equality).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from reidkit import log
from reidkit.cluster.knn import as_unit_rows, knn

_BLOCK_ELEMENTS = 1 << 23  # rows per Jaccard block × N: bounds the scratch accumulator (64 MB)
_PAIR_CHUNK = 1 << 16  # feature pairs per dot-product chunk
# Identical encodings (duplicate images) give 1 − m/(2 − m) = 0 up to rounding; the residue is
# snapped to an exact 0 so that the rho rule, which skips zeros, sees the same set of pairs.
_ZERO = 1e-6


def _neighbour_matrix(rank: np.ndarray, cols: int) -> sp.csr_matrix:
    """A_ij = 1 when j is among i's first `cols` neighbours."""
    n = len(rank)
    first = np.ascontiguousarray(rank[:, :cols])
    indptr = np.arange(0, first.size + 1, cols, dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(first.size, np.int32), first.ravel(), indptr), shape=(n, n))
    matrix.sort_indices()
    return matrix


def reciprocal_sets(rank: np.ndarray, cols: int) -> sp.csr_matrix:
    """Row i = R(i): i's first `cols` neighbours j that have i among their own first `cols`."""
    forward = _neighbour_matrix(rank, cols)
    return forward.multiply(forward.T).tocsr().astype(np.int32)


def expanded_sets(rank: np.ndarray, k1: int) -> sp.csr_matrix:
    """R*(i): R(i,k1) plus every R(j,k1/2), j ∈ R(i,k1), that overlaps it by more than 2/3."""
    cols = rank.shape[1]
    half = min(round(k1 / 2) + 1, cols)
    full_sets = reciprocal_sets(rank, cols)
    half_sets = reciprocal_sets(rank, half)
    half_size = np.diff(half_sets.indptr)
    overlap = (full_sets @ half_sets.T).multiply(full_sets).tocoo()
    keep = overlap.data > 2 / 3 * half_size[overlap.col]
    n = len(rank)
    chosen = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.int32), (overlap.row[keep], overlap.col[keep])), shape=(n, n)
    )
    expanded = (full_sets + chosen @ half_sets).tocsr()
    expanded.sum_duplicates()
    expanded.data[:] = 1
    return expanded


def _row_ids(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _pair_dots(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """f_rows · f_cols for each pair, in chunks (never a pairs × dim array of all pairs)."""
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), _PAIR_CHUNK):
        r, c = rows[start : start + _PAIR_CHUNK], cols[start : start + _PAIR_CHUNK]
        out[start : start + _PAIR_CHUNK] = np.einsum("ij,ij->i", x[r], x[c])
    return out


def _similarities(
    x: np.ndarray, sims: np.ndarray, rank: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """cos(f_rows, f_cols): read from the kNN result where j is among i's neighbours (~95 % of
    the expanded entries), computed for the others."""
    n = len(rank)
    order = np.argsort(rank, axis=1, kind="stable")
    known_keys = (np.arange(n)[:, None] * n + np.take_along_axis(rank, order, axis=1)).ravel()
    known_sims = np.take_along_axis(sims, order, axis=1).ravel()
    keys = rows * n + cols
    at = np.minimum(np.searchsorted(known_keys, keys), len(known_keys) - 1)
    hit = known_keys[at] == keys
    out = np.empty(len(keys), dtype=np.float64)
    out[hit] = known_sims[at[hit]]
    out[~hit] = _pair_dots(x, rows[~hit], cols[~hit])
    return out


def encoding(
    expanded: sp.csr_matrix, logits: np.ndarray, rank: np.ndarray, k2: int
) -> sp.csr_matrix:
    """V: softmax of `logits` over each expanded set, then the mean over the first k2 ranks."""
    counts = np.diff(expanded.indptr)
    filled = counts > 0
    starts = expanded.indptr[:-1][filled]
    shift = np.repeat(np.maximum.reduceat(logits, starts), counts[filled])
    weights = np.exp(logits - shift)
    totals = np.repeat(np.add.reduceat(weights, starts), counts[filled])
    v = sp.csr_matrix((weights / totals, expanded.indices, expanded.indptr), shape=expanded.shape)
    q = min(k2, rank.shape[1])
    if k2 != 1:
        n = len(rank)
        mean = sp.csr_matrix(
            (np.full(n * q, 1.0 / q), np.ascontiguousarray(rank[:, :q]).ravel(),
             np.arange(0, n * q + 1, q)),
            shape=(n, n),
        )
        v = (mean @ v).tocsr()
    v.sort_indices()
    return v


def encode(
    x: np.ndarray, sims: np.ndarray, rank: np.ndarray, k1: int, k2: int
) -> sp.csr_matrix:
    """V of the GCL/ICE Jaccard: weights exp(−(2 − 2·cos)) over each expanded set."""
    expanded = expanded_sets(rank, k1)
    rows, cols = _row_ids(expanded), expanded.indices.astype(np.int64)
    logits = -(2.0 - 2.0 * _similarities(x, sims, rank, rows, cols))
    return encoding(expanded, logits, rank, k2)


def _gather_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of range(s, s + l) for every (s, l), vectorised."""
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))


def _upper_overlaps(v: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, k, m_ik) for k ≥ i and overlapping rows, m_ik = Σ_j min(V_ij, V_kj).

    For each nonzero (i, j), the rows k ≥ i of column j are a suffix of that column's sorted
    list, starting at (i, j) itself; a dense accumulator of (rows in block) × (n − block start)
    sums the minima (bounded by _BLOCK_ELEMENTS, so memory does not grow with N²).
    """
    n = v.shape[0]
    row_of = _row_ids(v)
    order = np.argsort(v.indices, kind="stable")  # column-major, rows ascending in a column
    col_rows = row_of[order]
    col_vals = v.data[order]
    col_ptr = np.concatenate(([0], np.cumsum(np.bincount(v.indices, minlength=n))))
    own = np.empty(len(order), dtype=np.int64)
    own[order] = np.arange(len(order))  # position of each CSR entry in the column lists
    out_rows, out_cols, out_vals = [], [], []
    a = 0
    with log.task("jaccard distance", total=n) as progress:
        while a < n:
            width = n - a
            b = min(n, a + max(1, _BLOCK_ELEMENTS // width))
            lo, hi = v.indptr[a], v.indptr[b]
            lengths = col_ptr[v.indices[lo:hi] + 1] - own[lo:hi]
            at = _gather_ranges(own[lo:hi], lengths)
            mins = np.minimum(np.repeat(v.data[lo:hi], lengths), col_vals[at])
            keys = np.repeat((row_of[lo:hi] - a) * width - a, lengths) + col_rows[at]
            acc = np.bincount(keys, weights=mins, minlength=(b - a) * width)
            hit = np.flatnonzero(acc)
            out_rows.append(a + hit // width)
            out_cols.append(a + hit % width)
            out_vals.append(acc[hit])
            progress.advance(b - a)
            a = b
    return np.concatenate(out_rows), np.concatenate(out_cols), np.concatenate(out_vals)


def jaccard_from_encoding(v: sp.csr_matrix) -> sp.csr_matrix:
    """d_ik = 1 − m/(2 − m), m = Σ_j min(V_ij, V_kj), for every pair sharing a column of V."""
    n = v.shape[0]
    rows, cols, m = _upper_overlaps(v)
    vals = np.maximum(1.0 - m / (2.0 - m), 0.0).astype(np.float32)
    vals[(rows == cols) | (vals < _ZERO)] = 0.0
    strict = rows != cols
    dist = sp.coo_matrix(
        (np.concatenate([vals, vals[strict]]),
         (np.concatenate([rows, cols[strict]]), np.concatenate([cols, rows[strict]]))),
        shape=(n, n),
    ).tocsr()
    dist.sort_indices()
    return dist


def jaccard_distance(
    features: torch.Tensor | np.ndarray, k1: int = 30, k2: int = 6, *, knn_backend: str = "auto"
) -> sp.csr_matrix:
    """k-reciprocal Jaccard distance, stored only where the expanded sets overlap.

    Absent pairs have distance exactly 1; stored pairs may hold explicit zeros (never call
    `eliminate_zeros` on the result: a zero is a neighbour, an absent entry is not). The diagonal
    is stored as 0. Values equal the reference's dense matrix on stored pairs (float32).
    """
    if k1 < 1 or k2 < 1:
        raise ValueError("k1 and k2 must be at least 1")
    x = as_unit_rows(features)
    sims, rank = knn(x, k1, backend=knn_backend)
    return jaccard_from_encoding(encode(x, sims, rank, k1, k2))
