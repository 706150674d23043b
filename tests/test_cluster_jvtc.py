"""The JVTC / JVTC+ warm-ups relabel with the authors' rule (re-ranked distance, k1 20, λ 0.3,
rho 1.6e-3, min_samples 1; JVTC+ re-ranks the joint distance with λ 0.5), checked against the
dense float64 port of their code in test_cluster_bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from test_cluster_bounded import dense_labels, dense_rerank, squared_euclidean, unit64
from test_cluster_jaccard import blobs, reference_rho_eps

from reidkit.baselines.config import JVTCConfig
from reidkit.baselines.jvtc import JVTC, JVTCPlus
from reidkit.cluster.temporal import TemporalModel, build_timeline, joint_distance
from reidkit.data.records import ImageRecord


def test_jvtc_config_defaults_are_the_authors():
    cfg = JVTCConfig()
    assert (cfg.k1, cfg.k2, cfg.rerank_lambda, cfg.temporal_lambda) == (20, 6, 0.3, 0.5)
    assert (cfg.rho, cfg.eps, cfg.min_samples) == (1.6e-3, None, 1)


def test_jvtc_relabel_is_the_authors_rule():
    x = blobs(160, centres=12, noise=0.6, seed=4)
    method = JVTC.__new__(JVTC)
    method.config = JVTCConfig()
    method.memory = torch.from_numpy(unit64(x).astype(np.float32))
    labels, temporal = method.relabel(10)
    final = dense_rerank(squared_euclidean(x))
    assert not temporal and 1 < len(set(labels)) < 160
    assert np.array_equal(labels, dense_labels(final, reference_rho_eps(final, 1.6e-3), 1))


def test_jvtc_plus_relabel_reranks_the_joint_distance():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(8, 16))
    ids = np.repeat(np.arange(8), 20)
    x = unit64(centres[ids] + 0.45 * rng.normal(size=(160, 16)))
    cams = rng.integers(0, 3, 160)
    frames = ids * 4000 + cams * 250 + rng.integers(0, 80, 160)
    records = [ImageRecord(Path(f"{i}.jpg"), f"{i}.jpg", -1, int(c), "train", int(f), "s1")
               for i, (c, f) in enumerate(zip(cams, frames, strict=True))]
    method = JVTCPlus.__new__(JVTCPlus)
    method.config = JVTCConfig(dataset="market", baseline="jvtc+")
    method.records = records
    method.memory = torch.from_numpy(x.astype(np.float32))
    assert method.relabel(29)[1] is False  # before temporal_start: visual only
    labels, temporal = method.relabel(30)
    visual = dense_rerank(squared_euclidean(x))
    tl = build_timeline(records, "sequence", {(int(c), 1): 0.0 for c in range(3)})
    model = TemporalModel.fit(tl, dense_labels(visual, reference_rho_eps(visual, 1.6e-3), 1))
    a, b = np.meshgrid(np.arange(160), np.arange(160), indexing="ij")
    prob = model.probability(tl, a.ravel(), tl, b.ravel()).reshape(160, 160)
    final = dense_rerank(joint_distance(x @ x.T, prob), lam=0.5)
    assert temporal and 1 < len(set(labels)) < 160
    assert np.array_equal(labels, dense_labels(final, reference_rho_eps(final, 1.6e-3), 1))
