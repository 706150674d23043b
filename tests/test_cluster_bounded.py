"""Bounded-memory clustering (`reidkit.cluster.bounded`, `rerank_cluster`) against straightforward
dense float64 references: the GCL/ICE Jaccard, its temporal mix, and the authors' JVTC
`re_ranking(original_dist)` + rho rule + DBSCAN, on easy and on noisy inputs, with row blocks
small enough to split neighbourhoods."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN
from test_cluster_jaccard import blobs, dense_jaccard, reference_rho_eps

from reidkit.cluster import bounded, collect
from reidkit.cluster.bounded import Pairs, exact_overlap
from reidkit.cluster.collect import RhoRule, cluster_rule
from reidkit.cluster.jaccard import encode
from reidkit.cluster.knn import knn
from reidkit.cluster.labels import cluster_jaccard, pseudo_labels
from reidkit.cluster.rerank_cluster import RerankRule, rerank_cluster, rerank_temporal_labels
from reidkit.cluster.temporal import TemporalModel, Timeline, joint_distance
from reidkit.errors import ConfigError


def noisy(n: int, dim: int = 64, centres: int = 15, seed: int = 0) -> np.ndarray:
    """Identities buried in noise (two thirds of each 30-NN list wrong) and 5 % outliers: every
    pair's encodings overlap, as early in training."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = c[rng.integers(0, centres, n)] + 2.0 * rng.normal(size=(n, dim)) / np.sqrt(dim)
    out = rng.random(n) < 0.05
    x[out] = rng.normal(size=(int(out.sum()), dim))
    return x.astype(np.float32)


def unit64(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.float64)
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def dense_rerank(original: np.ndarray, k1: int = 20, k2: int = 6, lam: float = 0.3,
                 parts: bool = False):
    """The authors' `re_ranking(original_dist, k1, k2, lambda_value)`, float64, Python loops
    (with `parts`: also its Jaccard term)."""
    n = len(original)
    o = original - np.min(original, axis=0)
    o = np.transpose(o / np.max(o, axis=0))
    rank = np.argsort(o, axis=1, kind="stable")

    def reciprocal(i: int, k: int) -> np.ndarray:
        forward = rank[i, : k + 1]
        return forward[np.where(rank[forward, : k + 1] == i)[0]]

    v = np.zeros((n, n))
    for i in range(n):
        r = reciprocal(i, k1)
        expansion = r
        for candidate in r:
            half = reciprocal(candidate, int(np.around(k1 / 2)))
            if len(np.intersect1d(half, r)) > 2 / 3 * len(half):
                expansion = np.append(expansion, half)
        expansion = np.unique(expansion)
        weight = np.exp(-o[i, expansion])
        v[i, expansion] = weight / np.sum(weight)
    if k2 != 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    jaccard = np.zeros((n, n))
    for i in range(n):
        m = np.minimum(v[i], v).sum(axis=1)
        jaccard[i] = 1 - m / (2 - m)
    jaccard[jaccard < 0] = 0
    final = (1 - lam) * jaccard + lam * o
    return (final, jaccard) if parts else final


def squared_euclidean(x: np.ndarray) -> np.ndarray:
    u = unit64(x)
    return np.maximum(((u[:, None, :] - u[None, :, :]) ** 2).sum(axis=2), 0)


def dense_labels(dist: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(dist)


def check_kept(result, dense: np.ndarray) -> None:
    """Kept entries are exactly the off-diagonal ones within eps, with the dense values."""
    n = len(dense)
    mask = dense <= result.eps
    np.fill_diagonal(mask, False)
    kept = np.zeros((n, n), dtype=bool)
    kept[result.rows, result.cols] = True
    assert len(result.rows) == kept.sum()  # no entry twice
    assert np.array_equal(kept, mask)
    assert np.abs(result.values - dense[result.rows, result.cols]).max(initial=0) < 1e-6


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Row blocks of one to a few rows, verification chunks of a few entries, and the block
    boundaries of the latest run."""
    monkeypatch.setattr(bounded, "BLOCK_PAIRS", 97)
    monkeypatch.setattr(bounded, "GATHER", 50)
    monkeypatch.setattr(bounded, "DENSE_ELEMENTS", 400)
    starts: list[int] = []
    original = bounded.upper_blocks

    def spy(v, select, threshold, device=None):
        for a, b, selected in original(v, select, threshold, device):
            if a == 0:  # a new run: keep the boundaries of the latest one
                starts.clear()
            starts.append(a)
            yield a, b, selected

    monkeypatch.setattr(bounded, "upper_blocks", spy)
    return starts


def splits_a_cluster(labels: np.ndarray, starts: list[int]) -> bool:
    """Some cluster has members on both sides of a block boundary."""
    block = np.searchsorted(np.array(starts), np.arange(len(labels)), side="right")
    return any(len(set(block[labels == c])) > 1 for c in set(labels) - {-1})


FEATURES = {"easy": lambda: blobs(160, centres=12, noise=0.6, seed=4), "noisy": lambda: noisy(300)}


@pytest.mark.parametrize("family", ["easy", "noisy"])
@pytest.mark.parametrize("small", [False, True])
def test_jaccard_bounded_equals_dense(family, small, request):
    starts = request.getfixturevalue("tiny_blocks") if small else None
    x = FEATURES[family]()
    dense = dense_jaccard(x.astype(np.float64), 30, 6)
    dense[dense < 1e-6] = 0  # identical encodings: 0 up to rounding (test_cluster_jaccard)
    for eps in (0.3, 0.5, 0.6):
        result = cluster_jaccard(x, eps=eps)
        assert np.array_equal(result.labels, dense_labels(dense, eps, 4))
        check_kept(result, dense)
    for rho in (2e-3, 2e-2):
        result = cluster_jaccard(x, rho=rho)
        assert result.eps == pytest.approx(reference_rho_eps(dense, rho), abs=1e-6)
        assert np.array_equal(result.labels, dense_labels(dense, result.eps, 4))
        check_kept(result, dense)
        assert len(set(result.labels) - {-1}) > 1
    if small:
        assert len(starts) > 20 and splits_a_cluster(result.labels, starts)


def test_noisy_features_verify_few_pairs():
    x = noisy(300)
    dense = dense_jaccard(x.astype(np.float64), 30, 6)
    assert (dense < 1).mean() > 0.9  # nearly every pair overlaps
    result = cluster_jaccard(x, eps=0.5)
    assert result.verified_pairs < 0.05 * (dense < 1).sum() / 2


@pytest.mark.parametrize("family", ["easy", "noisy"])
@pytest.mark.parametrize("small", [False, True])
def test_jvtc_rerank_equals_authors_dense(family, small, request):
    starts = request.getfixturevalue("tiny_blocks") if small else None
    x = FEATURES[family]()
    final = dense_rerank(squared_euclidean(x))
    assert not np.allclose(final, final.T)  # row normalisation: not symmetric
    for rho in (1.6e-3, 2e-2):
        result = rerank_cluster(x, rho=rho)
        expected = reference_rho_eps(final, rho)
        assert result.eps == pytest.approx(expected, abs=1e-6)
        assert np.array_equal(result.labels, dense_labels(final, result.eps, 1))
        check_kept(result, final)
    # below 1 − λ only overlapping pairs can be neighbours; above it every pair is examined
    for eps, min_samples in ((0.2, 2), (0.45, 3), (0.75, 4)):
        result = rerank_cluster(x, eps=eps, min_samples=min_samples)
        assert np.array_equal(result.labels, dense_labels(final, eps, min_samples))
        check_kept(result, final)
    if small:
        assert len(starts) > 20 and splits_a_cluster(result.labels, starts)


def directional_joint(n: int, seed: int = 0):
    """A made-up joint distance whose temporal term differs between (a, b) and (b, a)."""
    p = np.random.default_rng(seed).random((n, n))

    def joint(rows, cols, cos):
        return 1 - 1 / (1 + np.exp(-5 * cos)) / (1 + 2 * np.exp(-5 * p[rows, cols]))

    return joint


def test_rerank_of_a_non_symmetric_original_distance(tiny_blocks):
    x = blobs(160, centres=12, noise=0.6, seed=4)
    joint = directional_joint(160)
    a, b = np.meshgrid(np.arange(160), np.arange(160), indexing="ij")
    original = joint(a, b, unit64(x) @ unit64(x).T)  # the authors' D[q, g] = joint(q, g)
    final = dense_rerank(original, lam=0.5)
    assert np.abs(final - dense_rerank(original.T, lam=0.5)).max() > 0.05  # direction matters
    for rho in (1.6e-3, 3e-2):
        result = rerank_cluster(x, rho=rho, lambda_value=0.5, original=joint)
        assert result.eps == pytest.approx(reference_rho_eps(final, rho), abs=1e-6)
        expected = dense_labels(final, result.eps, 1)
        assert (expected == -1).any()  # a diagonal above eps: not its own neighbour
        assert np.array_equal(result.labels, expected)
        check_kept(result, final)
    for eps in (0.3, 0.6):  # 0.6 ≥ 1 − λ: every pair of every block is examined
        result = rerank_cluster(x, eps=eps, lambda_value=0.5, original=joint, min_samples=2)
        assert np.array_equal(result.labels, dense_labels(final, eps, 2))
        check_kept(result, final)


def test_rerank_neighbours_with_disjoint_encodings(tiny_blocks):
    x = blobs(160, centres=12, noise=0.6, seed=4)
    final, jaccard = dense_rerank(squared_euclidean(x), k1=3, k2=1, lam=0.5, parts=True)
    eps = 0.62
    assert ((final <= eps) & (jaccard == 1)).sum() > 10  # near pairs that share no encoding
    result = rerank_cluster(x, eps=eps, k1=3, k2=1, lambda_value=0.5, min_samples=2)
    assert np.array_equal(result.labels, dense_labels(final, eps, 2))
    check_kept(result, final)
    result = rerank_cluster(x, rho=0.05, k1=3, k2=1, lambda_value=0.5)
    assert result.eps == pytest.approx(reference_rho_eps(final, 0.05), abs=1e-6)
    assert np.array_equal(result.labels, dense_labels(final, result.eps, 1))
    check_kept(result, final)


def test_jvtc_plus_two_steps_equal_dense():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(8, 16))
    ids = np.repeat(np.arange(8), 15)
    x = (centres[ids] + 0.45 * rng.normal(size=(120, 16))).astype(np.float32)
    cams = rng.integers(0, 3, 120)
    tl = Timeline(cams, (ids * 4000 + cams * 250 + rng.integers(0, 80, 120)).astype(float),
                  np.zeros(120, dtype=int))
    labels, eps, model = rerank_temporal_labels(x, tl, rho=1e-2)
    visual = dense_rerank(squared_euclidean(x))
    visual_labels = dense_labels(visual, reference_rho_eps(visual, 1e-2), 1)
    assert len(set(visual_labels)) > 1
    reference = TemporalModel.fit(tl, visual_labels)
    np.testing.assert_allclose(model.distribution, reference.distribution)
    a, b = np.meshgrid(np.arange(120), np.arange(120), indexing="ij")
    prob = reference.probability(tl, a.ravel(), tl, b.ravel()).reshape(120, 120)
    u = unit64(x)
    final = dense_rerank(joint_distance(u @ u.T, prob), lam=0.5)
    assert eps == pytest.approx(reference_rho_eps(final, 1e-2), abs=1e-6)
    assert np.array_equal(labels, dense_labels(final, eps, 1))


def dense_mix(x: np.ndarray, joint) -> np.ndarray:
    """train-joint's JVTC+ rule: 0.5·Jaccard + 0.5·joint(i, k) on overlapping pairs, 1 elsewhere,
    0 on the diagonal."""
    n = len(x)
    jac = dense_jaccard(x.astype(np.float64), 30, 6)
    jac[jac < 1e-6] = 0
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    mixed = np.where(jac < 1, 0.5 * jac + 0.5 * joint(a, b, unit64(x) @ unit64(x).T), 1.0)
    np.fill_diagonal(mixed, 0)
    return mixed


@pytest.mark.parametrize("family", ["easy", "noisy"])
def test_temporal_mix_equals_dense(family, tiny_blocks):
    x = FEATURES[family]()
    joint = directional_joint(len(x), seed=2)
    dense = dense_mix(x, joint)
    for eps in (0.45, 0.6):
        result = cluster_jaccard(x, eps=eps, temporal=joint)
        assert np.array_equal(result.labels, dense_labels(dense, eps, 4))
        check_kept(result, dense)
    result = cluster_jaccard(x, rho=2e-2, temporal=joint)
    assert result.eps == pytest.approx(reference_rho_eps(dense, 2e-2), abs=1e-6)
    assert np.array_equal(result.labels, dense_labels(dense, result.eps, 4))
    assert np.array_equal(pseudo_labels(x, rho=2e-2, temporal=joint), result.labels)


def test_exact_overlap_hand_computed(monkeypatch):
    v = sp.csr_matrix(np.array([[0.5, 0.5, 0.0, 0.0],
                                [0.2, 0.0, 0.8, 0.0],
                                [0.0, 0.0, 0.3, 0.7],
                                [0.25, 0.25, 0.25, 0.25]]))
    rows, cols = np.array([0, 0, 1, 2, 3, 3]), np.array([1, 2, 2, 3, 0, 1])
    expected = [0.2, 0.0, 0.3, 0.25 + 0.25, 0.25 + 0.25, 0.2 + 0.25]
    monkeypatch.setattr(bounded, "GATHER", 3)  # several chunks
    monkeypatch.setattr(bounded, "DENSE_ELEMENTS", 4)  # one dense row at a time
    np.testing.assert_allclose(exact_overlap(v, rows, cols), expected, atol=1e-15)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_exact_overlap_split_over_threads(monkeypatch, workers):
    """Runs of whole rows per thread, in any order of the input pairs: the direct Σ min."""
    rng = np.random.default_rng(3)
    dense = rng.random((40, 25)) * (rng.random((40, 25)) < 0.3)
    rows, cols = rng.integers(0, 40, 500), rng.integers(0, 40, 500)
    expected = np.minimum(dense[rows], dense[cols]).sum(axis=1)
    monkeypatch.setattr(bounded, "WORKERS", workers)
    monkeypatch.setattr(bounded, "PARALLEL_PAIRS", 1)
    monkeypatch.setattr(bounded, "GATHER", 37)
    monkeypatch.setattr(bounded, "DENSE_ELEMENTS", 60)
    np.testing.assert_allclose(exact_overlap(sp.csr_matrix(dense), rows, cols), expected,
                               atol=1e-12)


class _HandRule:
    """Given upper values (absent pairs = 1), bounds 0.01 below them."""

    absent_is_one = True

    def __init__(self, values: dict[tuple[int, int], float], n: int) -> None:
        self.values, self.n = values, n
        self.asked: list[tuple[int, int]] = []

    def pairs(self, block, threshold):
        i, k = (np.array(side) for side in zip(*self.values, strict=True))
        low = np.array(list(self.values.values())) - 0.01
        return Pairs(i, k, low, low)

    def pairs_of(self, i, k):
        return Pairs(i, k, np.zeros(len(i)), np.zeros(len(i)))

    def exact(self, pairs):
        keys = list(zip(pairs.i.tolist(), pairs.k.tolist(), strict=True))
        self.asked.extend(keys)
        d = np.array([self.values.get(key, 1.0) for key in keys])
        return d, d

    def diagonal(self):
        return np.zeros(self.n)


def _one_block(v, select, threshold, device=None):
    yield 0, v.shape[0], select(None, threshold())


def test_rho_rule_hand_computed(monkeypatch):
    monkeypatch.setattr(bounded, "upper_blocks", _one_block)
    v = sp.identity(4, format="csr")
    rank = np.arange(4)[:, None]  # no neighbour to seed with
    four = {(0, 1): 0.2, (2, 3): 0.0, (0, 2): 0.5}
    # six upper pairs, one zero → count 5; rho 0.6 → take 3 of {0.2, 0.5, 1, 1, 1}.
    result = cluster_rule(v, _HandRule(four, 4), RhoRule(0.6, 4), 1, rank)
    assert result.eps == pytest.approx((0.2 + 0.5 + 1) / 3)
    # rho 0.2 → take 1 (cap 1): 0.2; the pair at 0.5 is never verified.
    monkeypatch.setattr(collect, "POOL_PAIRS", 1)
    monkeypatch.setattr(collect, "CANDIDATES", 1)
    monkeypatch.setattr(collect, "STEP", 1)
    rule = _HandRule(four, 4)
    result = cluster_rule(v, rule, RhoRule(0.2, 4), 1, rank)
    assert result.eps == pytest.approx(0.2) and (0, 2) not in rule.asked
    assert len(rule.asked) == 2 and "second pass" not in result.seconds
    assert result.labels.tolist() == [0, 0, 1, 1]  # (2,3) at 0 is a neighbour, (0,2) is not
    with pytest.raises(ConfigError):
        RhoRule(0.05, 4)
    # five points, ten upper pairs, two zeros → count 8; rho 0.5 → take 4 (the buffer holds 5).
    five = {(0, 1): 0.0, (0, 2): 0.1, (0, 3): 0.2, (0, 4): 0.3, (1, 2): 0.4, (1, 3): 0.5,
            (1, 4): 0.6, (2, 3): 0.7, (2, 4): 0.8, (3, 4): 0.0}
    result = cluster_rule(sp.identity(5, format="csr"), _HandRule(five, 5), RhoRule(0.5, 5), 1,
                          np.arange(5)[:, None])
    assert result.eps == pytest.approx((0.1 + 0.2 + 0.3 + 0.4) / 4)


def test_memory_stays_far_below_one_dense_matrix(monkeypatch):
    n = 3000
    x = noisy(n, seed=3)  # ~90 % of all pairs overlap: storing them would take > 100 MB
    monkeypatch.setattr(bounded, "BLOCK_PAIRS", 1 << 16)
    monkeypatch.setattr(bounded, "GATHER", 1 << 16)
    monkeypatch.setattr(bounded, "DENSE_ELEMENTS", 1 << 16)
    tracemalloc.start()
    try:
        for run in (lambda: cluster_jaccard(x, eps=0.5), lambda: cluster_jaccard(x, rho=2e-3),
                    lambda: rerank_cluster(x, rho=1.6e-3)):
            tracemalloc.reset_peak()
            run()
            assert tracemalloc.get_traced_memory()[1] < n * n * 8 / 2  # half of one N×N
    finally:
        tracemalloc.stop()


def test_second_pass_when_few_candidates_are_kept(monkeypatch):
    x = noisy(300)
    dense = dense_jaccard(x.astype(np.float64), 30, 6)
    dense[dense < 1e-6] = 0
    monkeypatch.setattr(bounded, "BLOCK_PAIRS", 2000)
    monkeypatch.setattr(collect, "CANDIDATES", 1)
    monkeypatch.setattr(collect, "POOL_PAIRS", 1)
    result = cluster_jaccard(x, rho=2e-2)
    assert "second pass" in result.seconds  # the bounds were too loose for 2·cap candidates
    assert result.eps == pytest.approx(reference_rho_eps(dense, 2e-2), abs=1e-6)
    assert np.array_equal(result.labels, dense_labels(dense, result.eps, 4))
    check_kept(result, dense)


def _entries(result) -> tuple[np.ndarray, np.ndarray]:
    """The kept entries as sorted (row·N + col) keys and their values."""
    keys = result.rows.astype(np.int64) * len(result.labels) + result.cols
    order = np.argsort(keys)
    return keys[order], result.values[order]


@pytest.mark.parametrize("rho", [None, 2e-2])
def test_stale_thresholds_select_the_same(rho, monkeypatch):
    """A block's candidates are selected with the threshold of its submission, which may be above
    the consumer's current one: selecting with no threshold at all keeps the same entries."""
    x = noisy(300)
    rule = {"eps": None if rho else 0.5, "rho": rho}
    expected = [cluster_jaccard(x, **rule), rerank_cluster(x, **rule)]
    for cls in (bounded.JaccardRule, RerankRule):
        original = cls.pairs
        monkeypatch.setattr(cls, "pairs", lambda self, block, threshold, f=original:
                            f(self, block, np.inf))
    stale = [cluster_jaccard(x, **rule), rerank_cluster(x, **rule)]
    for new, old in zip(stale, expected, strict=True):
        assert np.array_equal(new.labels, old.labels) and len(set(old.labels) - {-1}) > 1
        assert new.eps == pytest.approx(old.eps, abs=1e-9)
        (new_keys, new_values), (old_keys, old_values) = _entries(new), _entries(old)
        assert np.array_equal(new_keys, old_keys)
        # the re-ranked values of the dense branch differ from the sparse one's by rounding only
        np.testing.assert_allclose(new_values, old_values, atol=1e-7)
    assert np.array_equal(_entries(stale[0])[1], _entries(expected[0])[1])  # Jaccard: exact


def _noisy_encoding(n: int = 300) -> sp.csr_matrix:
    x = noisy(n)
    sims, rank = knn(x, 30)
    return encode(x, sims, rank, 30, 6)


def _products_match(v: sp.csr_matrix, device: torch.device) -> None:
    """Every row block's product on `device` has scipy's stored entries and values."""
    host, other = bounded.Products(v), bounded.Products(v, device)
    schedule = bounded.block_schedule(v.shape[0])
    assert len(schedule) > 5
    for a, b, origin in schedule:
        want = host.block(a, b, origin, host.tail(origin)).product
        got = other.block(a, b, origin, other.tail(origin)).product
        assert isinstance(got, sp.csr_matrix) and got.shape == want.shape
        want.sort_indices()
        got.sort_indices()
        assert np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.indices, want.indices)
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=0)


def test_torch_sparse_products_equal_scipy(monkeypatch):
    monkeypatch.setattr(bounded, "BLOCK_PAIRS", 5000)
    _products_match(_noisy_encoding(), torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_products_equal_scipy(monkeypatch):
    monkeypatch.setattr(bounded, "BLOCK_PAIRS", 5000)
    _products_match(_noisy_encoding(), torch.device("cuda"))


def test_products_run_on_cuda_when_present(monkeypatch):
    assert bounded.product_device() == (torch.device("cuda") if torch.cuda.is_available()
                                        else None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bounded.product_device() == torch.device("cuda")


def test_clustering_with_products_on_a_torch_device(tiny_blocks, monkeypatch):
    """The whole bounded path with the block products in torch (as on CUDA) gives the dense
    reference's labels and kept entries, for both rules and JVTC's."""
    monkeypatch.setattr(bounded, "product_device", lambda: torch.device("cpu"))
    x = noisy(300)
    dense = dense_jaccard(x.astype(np.float64), 30, 6)
    dense[dense < 1e-6] = 0
    result = cluster_jaccard(x, eps=0.5)
    assert np.array_equal(result.labels, dense_labels(dense, 0.5, 4))
    check_kept(result, dense)
    result = cluster_jaccard(x, rho=2e-2)
    assert result.eps == pytest.approx(reference_rho_eps(dense, 2e-2), abs=1e-6)
    assert np.array_equal(result.labels, dense_labels(dense, result.eps, 4))
    check_kept(result, dense)
    assert len(set(result.labels) - {-1}) > 1 and len(tiny_blocks) > 20
    final = dense_rerank(squared_euclidean(x))
    jvtc = rerank_cluster(x, rho=1.6e-3)
    assert np.array_equal(jvtc.labels, dense_labels(final, jvtc.eps, 1))
