"""Sparse k-reciprocal Jaccard + DBSCAN against a straight port of the field's dense loops."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from sklearn.cluster import DBSCAN

from reidkit.cluster import jaccard_distance, knn, pseudo_labels, rho_eps
from reidkit.errors import ConfigError


def _k_reciprocal_neigh(initial_rank: np.ndarray, i: int, k1: int) -> np.ndarray:
    forward = initial_rank[i, : k1 + 1]
    backward = initial_rank[forward, : k1 + 1]
    return forward[np.where(backward == i)[0]]


def dense_jaccard(features: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """The reference `compute_jaccard_distance` with its Python loops and N×N arrays (float64)."""
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    n = len(x)
    initial_rank = np.argsort(-(x @ x.T), axis=1, kind="stable")[:, :k1]
    nn_k1 = [_k_reciprocal_neigh(initial_rank, i, k1) for i in range(n)]
    nn_half = [_k_reciprocal_neigh(initial_rank, i, int(np.around(k1 / 2))) for i in range(n)]
    v = np.zeros((n, n))
    for i in range(n):
        expansion = nn_k1[i]
        for candidate in nn_k1[i]:
            half = nn_half[candidate]
            if len(np.intersect1d(half, nn_k1[i])) > 2 / 3 * len(half):
                expansion = np.append(expansion, half)
        expansion = np.unique(expansion)
        dist = 2 - 2 * (x[i] @ x[expansion].T)
        weights = np.exp(-dist - (-dist).max())
        v[i, expansion] = weights / weights.sum()
    if k2 != 1:
        v = np.stack([v[initial_rank[i, :k2]].mean(axis=0) for i in range(n)])
    inv_index = [np.where(v[:, i] != 0)[0] for i in range(n)]
    jaccard = np.zeros((n, n))
    for i in range(n):
        temp_min = np.zeros(n)
        for j in np.where(v[i] != 0)[0]:
            temp_min[inv_index[j]] += np.minimum(v[i, j], v[inv_index[j], j])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    jaccard[jaccard < 0] = 0
    return jaccard


def reference_rho_eps(dist: np.ndarray, rho: float) -> float:
    """JVTC/GCL: tri = triu(dist, 1); keep non-zeros; sort; mean of the first round(rho·size)."""
    tri = np.triu(dist, 1)
    tri = np.sort(tri[np.nonzero(tri)], axis=None)
    return float(tri[: int(np.round(rho * tri.size))].mean())


def blobs(n: int, dim: int = 32, centres: int = 12, noise: float = 0.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    return (c[rng.integers(0, centres, n)] + noise * rng.normal(size=(n, dim))).astype(np.float32)


def _stored_mask(sparse) -> np.ndarray:
    coo = sparse.tocoo()
    mask = np.zeros(sparse.shape, dtype=bool)
    mask[coo.row, coo.col] = True
    return mask


def test_knn_faiss_and_torch_fallback_agree(monkeypatch):
    x = blobs(300, noise=1.0)
    sims, idx = knn(x, 12)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    brute = np.argsort(-(unit.astype(np.float64) @ unit.T), axis=1, kind="stable")[:, :12]
    assert np.array_equal(idx, brute)
    assert np.array_equal(idx[:, 0], np.arange(300))  # self first
    np.testing.assert_allclose(sims, np.take_along_axis(unit @ unit.T, idx, axis=1), atol=1e-5)
    knn_module = importlib.import_module("reidkit.cluster.knn")
    monkeypatch.setattr(knn_module, "_faiss", lambda: None)  # faiss "not importable"
    fb_sims, fb_idx = knn(torch.from_numpy(x), 12)
    assert np.array_equal(fb_idx, idx)
    np.testing.assert_allclose(fb_sims, sims, atol=1e-5)


@pytest.mark.parametrize(
    ("n", "k1", "k2"), [(150, 30, 6), (150, 20, 6), (120, 10, 1), (90, 7, 3), (60, 25, 4)]
)
def test_jaccard_equals_dense_reference(n, k1, k2):
    x = blobs(n, seed=n + k1)
    dense = dense_jaccard(x.astype(np.float64), k1, k2)
    sparse = jaccard_distance(x, k1=k1, k2=k2)
    stored = _stored_mask(sparse)
    ours = sparse.toarray()
    assert np.abs(ours[stored] - dense[stored]).max() < 1e-6
    assert (dense[~stored] == 1).all()  # every absent pair is exactly 1 in the reference
    assert (dense[stored] < 1).all()  # and nothing stored is a non-overlap
    assert np.array_equal(np.diag(ours), np.zeros(n)) and stored.diagonal().all()
    assert (abs(sparse - sparse.T) > 1e-6).nnz == 0


@pytest.mark.parametrize(("k1", "k2"), [(30, 6), (20, 6), (10, 1)])
def test_dbscan_labels_identical_to_dense(k1, k2):
    x = blobs(200, centres=15, noise=0.55, seed=k1)
    dense = dense_jaccard(x.astype(np.float64), k1, k2)
    for eps in (0.3, 0.5, 0.6):
        expected = DBSCAN(eps=eps, min_samples=4, metric="precomputed").fit_predict(dense)
        ours = pseudo_labels(x, eps=eps, k1=k1, k2=k2)
        assert np.array_equal(ours, expected)
        assert len(set(expected)) > 3  # a meaningful clustering, not all outliers


def test_rho_rule_matches_dense():
    x = blobs(200, seed=3)
    dense = dense_jaccard(x.astype(np.float64), 30, 6)
    # Images whose first k2 neighbours coincide get identical encodings: distance 0 up to a
    # rounding residue (1e-16 here, ~1e-7 in the float32 reference), which we store as 0.
    assert ((dense > 0) & (dense < 1e-6)).any()
    dense[dense < 1e-6] = 0
    sparse = jaccard_distance(x)
    for rho in (2e-3, 1.6e-2, 0.3):
        eps = rho_eps(sparse, rho)
        assert eps == pytest.approx(reference_rho_eps(dense, rho), abs=1e-6)
        expected = DBSCAN(eps=eps, min_samples=4, metric="precomputed").fit_predict(dense)
        assert np.array_equal(pseudo_labels(x, rho=rho), expected)


def test_duplicates_zero_distances_are_neighbours_and_skipped_by_rho():
    x = blobs(150, seed=5)
    x[1] = x[0]
    x[3] = x[2]
    dense = dense_jaccard(x.astype(np.float64), 30, 6)
    dense[dense < 1e-6] = 0  # identical encodings: the float residue is exactly 0 mathematically
    sparse = jaccard_distance(x)
    coo = sparse.tocoo()
    zero_pairs = (coo.data == 0) & (coo.row != coo.col)
    assert zero_pairs.any()  # explicit zeros are kept, not eliminated
    assert rho_eps(sparse, 0.01) == pytest.approx(reference_rho_eps(dense, 0.01), abs=1e-6)
    for eps in (0.2, 0.5):
        expected = DBSCAN(eps=eps, min_samples=4, metric="precomputed").fit_predict(dense)
        assert np.array_equal(pseudo_labels(x, eps=eps), expected)


def test_rho_rule_counts_absent_pairs_as_one():
    import scipy.sparse as sp

    # 4 points, stored upper pairs (0,1)=0.2, (2,3)=0; the four other pairs are absent (= 1).
    rows, cols = np.array([0, 1, 2, 3]), np.array([1, 0, 3, 2])
    dist = sp.csr_matrix((np.array([0.2, 0.2, 0.0, 0.0]), (rows, cols)), shape=(4, 4))
    # non-zero upper entries: 0.2 and four 1's → count 5; rho 0.6 → 3 smallest: 0.2, 1, 1.
    assert rho_eps(dist, 0.6) == pytest.approx((0.2 + 1 + 1) / 3)
    assert rho_eps(dist, 0.2) == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        rho_eps(dist, 0.05)


def test_pseudo_labels_needs_exactly_one_rule():
    x = blobs(50)
    with pytest.raises(ConfigError):
        pseudo_labels(x)
    with pytest.raises(ConfigError):
        pseudo_labels(x, eps=0.5, rho=0.002)
