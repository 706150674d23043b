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


def encode(x: np.ndarray, rank: np.ndarray, k1: int, k2: int) -> sp.csr_matrix:
    """V: softmax(−(2 − 2·cos)) over each expanded set, then the mean over the first k2 ranks."""
    expanded = expanded_sets(rank, k1)
    rows, cols = _row_ids(expanded), expanded.indices
    logits = -(2.0 - 2.0 * _pair_dots(x, rows, cols))
    counts = np.diff(expanded.indptr)
    filled = counts > 0
    starts = expanded.indptr[:-1][filled]
    shift = np.repeat(np.maximum.reduceat(logits, starts), counts[filled])
    weights = np.exp(logits - shift)
    totals = np.repeat(np.add.reduceat(weights, starts), counts[filled])
    v = sp.csr_matrix((weights / totals, cols, expanded.indptr), shape=expanded.shape)
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


def _gather_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of range(s, s + l) for every (s, l), vectorised."""
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))


def jaccard_from_encoding(v: sp.csr_matrix) -> sp.csr_matrix:
    """d_ik = 1 − m/(2 − m), m = Σ_j min(V_ij, V_kj), for every pair sharing a column of V."""
    n = v.shape[0]
    by_col = v.tocsc()
    by_col.sort_indices()
    block = max(1, min(n, _BLOCK_ELEMENTS // max(n, 1)))
    rows_out, cols_out, vals_out = [], [], []
    with log.task("jaccard distance", total=n) as progress:
        for a in range(0, n, block):
            b = min(n, a + block)
            lo, hi = v.indptr[a], v.indptr[b]
            j, vij = v.indices[lo:hi], v.data[lo:hi]
            local = np.repeat(np.arange(b - a, dtype=np.int64), np.diff(v.indptr[a : b + 1]))
            starts = by_col.indptr[j]
            lengths = by_col.indptr[j + 1] - starts
            at = _gather_ranges(starts, lengths)
            mins = np.minimum(np.repeat(vij, lengths), by_col.data[at])
            keys = np.repeat(local * n, lengths) + by_col.indices[at]
            acc = np.bincount(keys, weights=mins, minlength=(b - a) * n)
            hit = np.flatnonzero(acc)
            m = acc[hit]
            rows_out.append(a + hit // n)
            cols_out.append(hit % n)
            vals_out.append(np.maximum(1.0 - m / (2.0 - m), 0.0).astype(np.float32))
            progress.advance(b - a)
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.zeros(0, np.int64)
    vals = np.concatenate(vals_out) if vals_out else np.zeros(0, np.float32)
    vals[(rows == cols) | (vals < _ZERO)] = 0.0
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n)))).astype(np.int64)
    index_dtype = np.int32 if n < 2**31 else np.int64
    return sp.csr_matrix((vals, cols.astype(index_dtype), indptr), shape=(n, n))


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
    _, rank = knn(x, k1, backend=knn_backend)
    return jaccard_from_encoding(encode(x, rank, k1, k2))
