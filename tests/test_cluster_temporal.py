"""JVTC+ temporal model: timelines, gap histograms, smoothing, joint distance (hand-computed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reidkit.cluster.temporal import (
    BINS,
    TemporalModel,
    Timeline,
    build_timeline,
    gap_histograms,
    joint_distance,
    market_offsets,
    smooth,
    temporal_pseudo_labels,
    timeline_kind,
)
from reidkit.cluster.temporal_eval import TemporalDistance
from reidkit.data.records import ImageRecord
from reidkit.errors import DatasetError


def record(camid: int, frame: int | None, session: str | None = None, split: str = "train"):
    return ImageRecord(Path(f"x{camid}_{frame}.jpg"), f"x{camid}_{frame}.jpg", 1, camid, split,
                       frame, session)


def timeline(cams, times, groups=None) -> Timeline:
    n = len(cams)
    return Timeline(np.array(cams), np.array(times, dtype=float),
                    np.zeros(n, int) if groups is None else np.array(groups))


def test_market_sequence_offsets_on_made_up_names():
    train = [record(0, 100, "s1"), record(0, 500, "s1"), record(0, 50, "s2"), record(0, 300, "s2"),
             record(0, 20, "s4"), record(1, 1000, "s1"), record(1, 5, "s3")]
    largest = market_offsets(train)
    assert largest == {(0, 1): 500, (0, 2): 300, (0, 4): 20, (1, 1): 1000, (1, 3): 5}
    test = [record(0, 7, "s1"), record(0, 7, "s2"), record(0, 7, "s3"), record(0, 7, "s4"),
            record(0, 1, "s5"), record(1, 9, "s2"), record(1, 9, "s4"), record(2, 9, "s2")]
    tl = build_timeline(test, "sequence", largest)
    # s3 of camera 0 never occurs in train: it still follows s1 and s2 (500 + 300).
    assert tl.time.tolist() == [7, 507, 807, 807, 821, 1009, 1014, 9]
    assert tl.camid.tolist() == [0, 0, 0, 0, 0, 1, 1, 2]


def test_duke_global_and_msmt_slot_timelines():
    duke = build_timeline([record(0, 46182), record(3, 10)], timeline_kind("duke"))
    assert duke.time.tolist() == [46182, 10] and duke.group.tolist() == [0, 0]
    msmt = build_timeline([record(0, 8, "0303morning"), record(1, 9, "0113noon"),
                           record(2, 3, "0303morning")], timeline_kind("msmt"))
    assert msmt.group[0] == msmt.group[2] != msmt.group[1]
    with pytest.raises(DatasetError):
        timeline_kind("folder")
    with pytest.raises(DatasetError):
        build_timeline([record(0, None)], "global")


def test_gap_histograms_hand_computed():
    #        id 0: cam0 @100, @300 (mean 200), cam1 @1250; id 1: cam2 @50, cam0 @40;
    #        id 2: cam1 @500, cam2 @500 (tie); outlier on cam1 ignored.
    tl = timeline([0, 0, 1, 2, 0, 1, 2, 1], [100, 300, 1250, 50, 40, 500, 500, 99999])
    labels = np.array([0, 0, 0, 1, 1, 2, 2, -1])
    hist = gap_histograms(tl, labels, 3)
    expected = np.zeros((3, 3, BINS))
    expected[1, 0, 10] = 1  # cam1 mean 1250 later than cam0 mean 200: gap 1050 → bin 10
    expected[2, 0, 0] = 1  # cam2 @50 later than cam0 @40: gap 10 → bin 0
    expected[2, 1, 0] = 1  # tie: the reference's else-branch, [higher camera][lower camera]
    expected[0, 0, 0] = 2  # same camera: gaps to the first frame (0, 200) weighted by count 2
    expected[0, 0, 2] = 2
    np.testing.assert_array_equal(hist, expected)


def test_large_gaps_fall_in_the_last_bin():
    tl = timeline([0, 1], [0, 10**9])
    hist = gap_histograms(tl, np.array([0, 0]), 2)
    assert hist[1, 0, BINS - 1] == 1 and hist.sum() == 1


def _reference_gauss_smooth(arr: np.ndarray, sigma: int = 50) -> np.ndarray:
    """The public JVTC `gauss_smooth`: banded symmetric matrix of N(0, σ) values, |i−j| ≤ 3σ."""
    n = len(arr)
    g = np.exp(-(np.arange(n) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    matrix = np.zeros((n, n))
    for i in range(n):
        stop = min(n, i + 3 * sigma + 1)
        matrix[i, i:stop] = g[: stop - i]
    matrix = matrix + matrix.T
    matrix[np.diag_indices(n)] /= 2
    return matrix @ arr


def test_smoothing_matches_the_reference_matrix():
    rng = np.random.default_rng(0)
    arr = np.zeros(BINS)
    arr[[0, 3, 140, 151, 1500, 2999]] = rng.integers(1, 9, 6)
    np.testing.assert_allclose(smooth(arr), _reference_gauss_smooth(arr), rtol=1e-12, atol=1e-15)


def test_model_is_normalised_and_lookup_is_directional():
    tl = timeline([0, 0, 1, 2, 0, 1, 2], [100, 300, 1250, 50, 40, 500, 500])
    model = TemporalModel.fit(tl, np.array([0, 0, 0, 1, 1, 2, 2]))
    sums = model.distribution.sum(axis=2)
    filled = np.zeros((3, 3), bool)
    filled[[1, 2, 2, 0], [0, 0, 1, 0]] = True
    np.testing.assert_allclose(sums[filled], 1, atol=1e-6)
    assert (sums[~filled] == 0).all()
    q = timeline([1, 0, 0], [1300, 250, 250], [0, 0, 1])
    forward = model.probability(q, np.array([0]), q, np.array([1]))
    backward = model.probability(q, np.array([1]), q, np.array([0]))
    assert forward[0] == backward[0] == model.distribution[1, 0, 10] > 0
    assert model.probability(q, np.array([0]), q, np.array([2]))[0] == 0  # other time slot


def test_joint_distance_hand_values():
    assert joint_distance(0.0, 0.0) == pytest.approx(1 - 0.5 / 3)
    expected = 1 - 1 / (1 + math.exp(-5)) / (1 + 2 * math.exp(-5))
    assert joint_distance(1.0, 1.0) == pytest.approx(expected)
    assert joint_distance(0.5, 0.2) < joint_distance(0.5, 0.0) < joint_distance(0.2, 0.0)


def test_eval_distance_and_two_step_clustering():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 16))
    ids = np.repeat(np.arange(6), 10)
    feats = centres[ids] + 0.3 * rng.normal(size=(60, 16))
    feats = (feats / np.linalg.norm(feats, axis=1, keepdims=True)).astype(np.float32)
    cams = rng.integers(0, 3, 60)
    times = ids * 5000 + cams * 300 + rng.integers(0, 50, 60)
    tl = timeline(cams, times)
    labels, eps, model = temporal_pseudo_labels(feats, tl, eps=0.6)
    assert labels.shape == (60,) and eps == 0.6 and model.distribution.shape[0] == 3
    records = [record(int(c), int(t)) for c, t in zip(cams, times, strict=True)]
    distance = TemporalDistance(model, "global", None)
    got = distance(torch.from_numpy(feats[:5]), torch.from_numpy(feats), records[:5], records)
    prob = model.probability(tl, np.repeat(np.arange(5), 60), tl, np.tile(np.arange(60), 5))
    expected = joint_distance(feats[:5] @ feats.T, prob.reshape(5, 60))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
