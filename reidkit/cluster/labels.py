"""Pseudo labels: DBSCAN on the sparse k-reciprocal Jaccard distance, fixed eps or rho rule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN

from reidkit.cluster.jaccard import jaccard_distance
from reidkit.cluster.knn import as_unit_rows
from reidkit.errors import ConfigError

# Weight of the joint visual-temporal distance when mixed into the Jaccard distance: JVTC's
# `re_ranking(original_dist=joint, lambda_value=0.5)` (final = 0.5·Jaccard + 0.5·joint).
TEMPORAL_MIX = 0.5

# rho of the GCL [ref] / JVTC scripts when neither eps nor rho is given.
DEFAULT_RHO = {"market": 2e-3, "duke": 2e-3, "msmt": 1.2e-3}
FALLBACK_RHO = 2e-3

PairDistance = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def default_rho(dataset: str) -> float:
    """The rho the reference scripts use for `dataset` (2e-3; MSMT17 1.2e-3)."""
    return DEFAULT_RHO.get(dataset.lower(), FALLBACK_RHO)


def rho_eps(dist: sp.csr_matrix, rho: float) -> float:
    """JVTC/GCL rule: mean of the smallest round(rho·count) non-zero upper-triangle distances.

    Over the full strict upper triangle of the N×N matrix, where absent pairs count as 1 and
    entries equal to 0 are left out (the reference's `tri[np.nonzero(tri)]`).
    """
    if not 0 < rho <= 1:
        raise ConfigError(f"rho must be in (0, 1], got {rho}", fix="e.g. --rho 0.002")
    n = dist.shape[0]
    coo = dist.tocoo()
    upper = coo.data[coo.col > coo.row].astype(np.float64)
    zeros = int((upper == 0).sum())
    count = n * (n - 1) // 2 - zeros
    take = int(np.round(rho * count))
    if take < 1:
        raise ConfigError(
            f"rho={rho} selects no pair among {count} (N={n})",
            fix="use a larger --rho or a fixed --eps",
        )
    stored = upper[upper != 0]
    if take <= len(stored):
        smallest = np.partition(stored, take - 1)[:take]
        return float(smallest.mean())
    return float((stored.sum() + (take - len(stored)) * 1.0) / take)


def _apply_temporal(
    dist: sp.csr_matrix, x: np.ndarray, temporal: PairDistance
) -> sp.csr_matrix:
    """Mix the joint visual-temporal distance into every stored pair (absent pairs stay absent)."""
    coo = dist.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    cos = np.einsum("ij,ij->i", x[rows], x[cols]) if len(rows) else np.zeros(0)
    joint = np.asarray(temporal(rows, cols, cos), dtype=np.float64)
    mixed = (1 - TEMPORAL_MIX) * coo.data + TEMPORAL_MIX * joint
    mixed[rows == cols] = 0.0
    return sp.csr_matrix((mixed.astype(np.float32), (rows, cols)), shape=dist.shape)


def dbscan_sparse(dist: sp.csr_matrix, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN on a sparse precomputed distance: stored entries ≤ eps are neighbours, absent are not.

    Entries above eps are dropped first (they are never neighbours), which keeps sklearn's copies
    small; explicit zeros are kept.
    """
    coo = dist.tocoo()
    keep = coo.data <= eps
    graph = sp.csr_matrix(
        (coo.data[keep].astype(np.float64), (coo.row[keep], coo.col[keep])), shape=dist.shape
    )
    graph.sort_indices()
    model = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed", n_jobs=1)
    return model.fit_predict(graph).astype(np.int64)


def pseudo_labels(
    features: torch.Tensor | np.ndarray,
    *,
    eps: float | None = None,
    rho: float | None = None,
    k1: int = 30,
    k2: int = 6,
    min_samples: int = 4,
    temporal: PairDistance | None = None,
) -> np.ndarray:
    """Cluster features into pseudo identities (−1 = outlier) with Jaccard distance + DBSCAN.

    Exactly one of `eps` (fixed radius) or `rho` (JVTC/GCL rule, see `rho_eps`) must be given.
    `temporal(rows, cols, cos) -> joint distance` (JVTC+) is mixed into every stored pair.
    """
    return cluster_features(
        features, eps=eps, rho=rho, k1=k1, k2=k2, min_samples=min_samples, temporal=temporal
    )[0]


def cluster_features(
    features: torch.Tensor | np.ndarray,
    *,
    eps: float | None = None,
    rho: float | None = None,
    k1: int = 30,
    k2: int = 6,
    min_samples: int = 4,
    temporal: PairDistance | None = None,
) -> tuple[np.ndarray, float]:
    """`pseudo_labels` that also returns the eps used (logged by the training loops)."""
    if (eps is None) == (rho is None):
        raise ConfigError("give exactly one of eps or rho", fix="e.g. --eps 0.55 or --rho 0.002")
    if eps is not None and eps <= 0:
        raise ConfigError(f"eps must be positive, got {eps}")
    if min_samples < 1 or k1 < 1 or k2 < 1:
        raise ConfigError("k1, k2 and min_samples must be at least 1")
    x = as_unit_rows(features)
    dist = jaccard_distance(x, k1=k1, k2=k2)
    if temporal is not None:
        dist = _apply_temporal(dist, x, temporal)
    radius = float(eps) if eps is not None else rho_eps(dist, float(rho))
    return dbscan_sparse(dist, radius, min_samples), radius
