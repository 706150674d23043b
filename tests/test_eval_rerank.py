"""Re-ranking against the classic dense loop implementation (Zhong et al. 2017), written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.errors import ConfigError
from reidkit.evaluation.rerank import re_ranking, re_ranking_distance, re_ranking_features


def classic_re_ranking(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
    """The reference algorithm with its dense (Q+G)² matrices and per-row loops."""
    original = np.concatenate(
        [np.concatenate([q_q, q_g], axis=1), np.concatenate([q_g.T, g_g], axis=1)], axis=0
    )
    original = np.power(original, 2).astype(np.float32)
    original = np.transpose(1.0 * original / np.max(original, axis=0))
    v = np.zeros_like(original).astype(np.float32)
    initial_rank = np.argsort(original).astype(np.int32)
    num_q, num_all = q_g.shape[0], original.shape[0]
    half = int(np.around(k1 / 2.0)) + 1
    for i in range(num_all):
        forward = initial_rank[i, : k1 + 1]
        backward = initial_rank[forward, : k1 + 1]
        reciprocal = forward[np.where(backward == i)[0]]
        expansion = reciprocal
        for candidate in reciprocal:
            c_forward = initial_rank[candidate, :half]
            c_backward = initial_rank[c_forward, :half]
            c_reciprocal = c_forward[np.where(c_backward == candidate)[0]]
            if len(np.intersect1d(c_reciprocal, reciprocal)) > 2.0 / 3 * len(c_reciprocal):
                expansion = np.append(expansion, c_reciprocal)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        v[i, expansion] = 1.0 * weight / np.sum(weight)
    original = original[:num_q]
    if k2 != 1:
        v_qe = np.zeros_like(v, dtype=np.float32)
        for i in range(num_all):
            v_qe[i, :] = np.mean(v[initial_rank[i, :k2], :], axis=0)
        v = v_qe
    inverted = [np.where(v[:, i] != 0)[0] for i in range(num_all)]
    jaccard = np.zeros_like(original, dtype=np.float32)
    for i in range(num_q):
        overlap = np.zeros(shape=[1, num_all], dtype=np.float32)
        for j in np.where(v[i, :] != 0)[0]:
            rows = inverted[j]
            overlap[0, rows] = overlap[0, rows] + np.minimum(v[i, j], v[rows, j])
        jaccard[i] = 1 - overlap / (2.0 - overlap)
    final = jaccard * (1 - lambda_value) + original * lambda_value
    return final[:num_q, num_q:]


def _problem(num_q, num_g, seed):
    generator = torch.Generator().manual_seed(seed)
    features = torch.nn.functional.normalize(
        torch.randn(num_q + num_g, 8, generator=generator, dtype=torch.float64), dim=1
    )
    query, gallery = features[:num_q], features[num_q:]

    def dist(a, b):
        return (2 - 2 * a @ b.T).clamp(min=0).numpy()

    return query, gallery, dist(query, gallery), dist(query, query), dist(gallery, gallery)


@pytest.mark.parametrize("num_q, num_g, k1, k2, seed",
                         [(12, 50, 20, 6, 0), (20, 70, 8, 3, 1), (6, 30, 5, 1, 2)])
def test_matches_dense_reference(num_q, num_g, k1, k2, seed):
    query, gallery, q_g, q_q, g_g = _problem(num_q, num_g, seed)
    expect = classic_re_ranking(q_g, q_q, g_g, k1=k1, k2=k2)
    got = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, block=7).numpy()  # several row blocks
    np.testing.assert_allclose(got, expect, atol=1e-5)
    from_features = re_ranking_features(query.float(), gallery.float(), k1=k1, k2=k2, block=16)
    np.testing.assert_allclose(from_features.numpy(), expect, atol=1e-5)


def test_rejects_bad_k():
    _, _, q_g, q_q, g_g = _problem(3, 10, 0)
    with pytest.raises(ConfigError):
        re_ranking(q_g, q_q, g_g, k1=4, k2=9)


def test_custom_distance_in_row_blocks_matches_the_three_matrices():
    """A distance of features and records (here: Euclidean plus a same-camera penalty, standing in
    for the JVTC+ joint distance) re-ranked row by row equals re-ranking its full matrices."""
    num_q, num_g = 9, 40
    query, gallery, *_ = _problem(num_q, num_g, 3)
    cams = np.random.default_rng(3).integers(0, 3, num_q + num_g)
    q_rec, g_rec = list(cams[:num_q]), list(cams[num_q:])

    def distance(a, b, a_cams, b_cams):
        same = torch.as_tensor(np.equal.outer(np.asarray(a_cams), np.asarray(b_cams)))
        return (2 - 2 * a @ b.T).clamp(min=0) + 0.3 * same

    expect = classic_re_ranking(distance(query, gallery, q_rec, g_rec).numpy(),
                                distance(query, query, q_rec, q_rec).numpy(),
                                distance(gallery, gallery, g_rec, g_rec).numpy())
    got = re_ranking_distance(distance, query, gallery, q_rec, g_rec, block=11)
    np.testing.assert_allclose(got.numpy(), expect, atol=1e-5)
