"""evaluate_rank against hand-computed cases and a per-query NumPy loop (torchreid-style)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.errors import DatasetError
from reidkit.evaluation.rank import evaluate_rank


def loop_reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """The field's per-query protocol, written out plainly (junk pid −1 removed too)."""
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    cmcs, aps, inps = [], [], []
    for i in range(num_q):
        order = np.argsort(distmat[i])
        pids, cams = g_pids[order], g_camids[order]
        remove = ((pids == q_pids[i]) & (cams == q_camids[i])) | (pids == -1)
        hits = (pids[~remove] == q_pids[i]).astype(np.int64)
        if not hits.any():
            continue
        positions = np.flatnonzero(hits)
        cmc = hits.cumsum()
        inps.append(cmc[positions[-1]] / (positions[-1] + 1.0))
        precision = cmc / (np.arange(len(hits)) + 1.0)
        aps.append((precision * hits).sum() / hits.sum())
        cmc[cmc > 1] = 1
        cmcs.append(cmc[:max_rank])
    return np.mean(cmcs, 0), float(np.mean(aps)), float(np.mean(inps)), len(aps)


def test_hand_computed_case():
    # query pid 1 camera 0; gallery sorted by distance after removals:
    # junk(−1) and same-camera pid 1 removed → pid2, pid1, pid3, pid1 → matches at ranks 2 and 4.
    dist = np.array([[0.05, 0.1, 0.2, 0.3, 0.4, 0.5]])
    g_pids = np.array([-1, 1, 2, 1, 3, 1])
    g_cams = np.array([1, 0, 1, 1, 1, 2])
    result = evaluate_rank(dist, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=5)
    assert result.mAP == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert result.mINP == pytest.approx(2 / 4)
    assert result.cmc.tolist() == [0, 1, 1, 1, 1]
    assert (result.valid_queries, result.skipped_queries) == (1, 0)


def test_queries_without_valid_match_are_skipped_and_counted():
    dist = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.1, 0.3]])
    q_pids, q_cams = np.array([1, 2, 9]), np.array([0, 0, 0])
    g_pids, g_cams = np.array([1, 2, 2]), np.array([1, 0, 1])
    result = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)
    # q0: its match g0 is nearest → AP 1; q1: g1 (pid 2, camera 0) is removed, g2 is nearest
    # → AP 1; q2 (pid 9) has no match → skipped.
    assert (result.valid_queries, result.skipped_queries) == (2, 1)
    assert result.mAP == pytest.approx(1.0)
    assert len(result.cmc) == 3  # max_rank clipped to the gallery size


def test_two_queries_mean_of_ap():
    dist = np.array([[0.4, 0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4]])
    g_pids, g_cams = np.array([1, 2, 1, 3]), np.array([1, 1, 1, 1])
    result = evaluate_rank(dist, np.array([1, 3]), g_pids, np.array([0, 0]), g_cams)
    ap_q0 = (1 / 2 + 2 / 4) / 2  # ranks 2 (0.2) and 4 (0.4)
    ap_q1 = 1 / 4  # pid 3 last
    assert result.mAP == pytest.approx((ap_q0 + ap_q1) / 2)
    assert result.mINP == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert result.cmc[:4].tolist() == [0, 0.5, 0.5, 1]


def test_no_valid_query_is_a_user_error():
    with pytest.raises(DatasetError):
        evaluate_rank(np.ones((1, 2)), np.array([1]), np.array([1, 2]), np.array([0]),
                      np.array([0, 0]))


@pytest.mark.parametrize("seed", range(4))
def test_matches_per_query_loop_on_random_problems(seed):
    rng = np.random.default_rng(seed)
    num_q, num_g, ids = int(rng.integers(20, 80)), int(rng.integers(100, 400)), 25
    q_pids = rng.integers(0, ids, num_q)
    g_pids = rng.integers(-1, ids, num_g)
    q_cams, g_cams = rng.integers(0, 4, num_q), rng.integers(0, 4, num_g)
    dist = rng.random((num_q, num_g))  # continuous: no ties
    expect = loop_reference(dist, q_pids, g_pids, q_cams, g_cams)
    for chunk in (1 << 22, 97):  # one block, and many small blocks
        got = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, chunk_elements=chunk)
        np.testing.assert_allclose(got.cmc, expect[0], atol=1e-6)
        assert got.mAP == pytest.approx(expect[1], abs=1e-6)
        assert got.mINP == pytest.approx(expect[2], abs=1e-6)
        assert got.valid_queries == expect[3]
    tensors = [torch.as_tensor(x) for x in (dist, q_pids, g_pids, q_cams, g_cams)]
    assert evaluate_rank(*tensors).mAP == pytest.approx(expect[1], abs=1e-6)


def test_as_dict_rank_entries():
    dist = np.array([[0.1, 0.2]])
    result = evaluate_rank(dist, np.array([1]), np.array([2, 1]), np.array([0]), np.array([1, 1]))
    scores = result.as_dict()
    assert (scores["rank1"], scores["rank5"], scores["mAP"]) == (0.0, 1.0, 0.5)


def test_tie_between_match_and_non_match_ranks_the_match_first():
    dist = np.array([[0.2, 0.2, 0.5]])
    result = evaluate_rank(dist, np.array([1]), np.array([2, 1, 3]), np.array([0]),
                           np.array([1, 1, 1]))
    assert result.mAP == 1.0 and result.cmc[0] == 1.0


def test_junk_query_matches_nothing():
    dist = np.array([[0.1, 0.2], [0.2, 0.1]])
    result = evaluate_rank(dist, np.array([-1, 2]), np.array([-1, 2]), np.array([0, 0]),
                           np.array([1, 1]))
    assert (result.valid_queries, result.skipped_queries, result.mAP) == (1, 1, 1.0)
