"""Pseudo labels: DBSCAN on the k-reciprocal Jaccard distance (fixed eps or the rho rule), computed
in row blocks that keep only the pairs that can matter (`reidkit.cluster.bounded`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from reidkit.cluster.bounded import (
    JaccardRule,
    MixedRule,
    PairDistance,
)
from reidkit.cluster.collect import Clustering, cluster_rule, selection
from reidkit.cluster.jaccard import encode
from reidkit.cluster.knn import as_unit_rows, knn
from reidkit.errors import ConfigError

# Weight of the joint visual-temporal distance mixed into the Jaccard distance of overlapping pairs
# (`temporal=`, train-joint's JVTC+): d = 0.5·Jaccard + 0.5·joint. The JVTC+ warm-up instead
# re-ranks the joint distance as the authors do (`rerank_cluster.rerank_temporal_labels`).
TEMPORAL_MIX = 0.5

# rho of the GCL [ref] / JVTC scripts when neither eps nor rho is given.
DEFAULT_RHO = {"market": 2e-3, "duke": 2e-3, "msmt": 1.2e-3}
FALLBACK_RHO = 2e-3


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


def cluster_jaccard(
    features: torch.Tensor | np.ndarray,
    *,
    eps: float | None = None,
    rho: float | None = None,
    k1: int = 30,
    k2: int = 6,
    min_samples: int = 4,
    temporal: PairDistance | None = None,
) -> Clustering:
    """Cluster features into pseudo identities (−1 = outlier) with Jaccard distance + DBSCAN;
    returns the labels, the eps used and what the bounded path kept and verified.

    Exactly one of `eps` (fixed radius) or `rho` (JVTC/GCL rule, see `rho_eps`) must be given.
    `temporal(rows, cols, cos) -> joint distance ≥ 0` (JVTC+) is mixed into every pair whose
    encodings overlap; the others stay at 1 and are never neighbours.
    """
    if (eps is None) == (rho is None):
        raise ConfigError("give exactly one of eps or rho", fix="e.g. --eps 0.55 or --rho 0.002")
    if min_samples < 1 or k1 < 1 or k2 < 1:
        raise ConfigError("k1, k2 and min_samples must be at least 1")
    x = as_unit_rows(features)
    chosen = selection(eps, rho, len(x))
    sims, rank = knn(x, k1)
    v = encode(x, sims, rank, k1, k2)
    rule = JaccardRule(v) if temporal is None else MixedRule(v, x, temporal, TEMPORAL_MIX)
    return cluster_rule(v, rule, chosen, min_samples, rank)


def pseudo_labels(features: torch.Tensor | np.ndarray, **options: Any) -> np.ndarray:
    """Only the labels of `cluster_jaccard(features, **options)` (what training loops need)."""
    return cluster_jaccard(features, **options).labels
