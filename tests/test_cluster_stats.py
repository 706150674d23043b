"""Clustering statistics on hand-made labels."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.cluster import cluster_stats, one_camera_share

DIAG = "diagnostic (uses ground truth)"


def test_counts_and_size_histogram():
    labels = np.array([0, 0, 0, 0, 1, 1, -1, 2, 2, 2, 2, 2, 2, 2, 2, -1])
    stats = cluster_stats(labels)
    assert stats["images"] == 16 and stats["clusters"] == 3 and stats["outliers"] == 2
    assert stats["outlier_fraction"] == pytest.approx(2 / 16)
    assert stats["largest_cluster"] == 8
    assert stats["mean_cluster_size"] == pytest.approx(14 / 3)
    assert stats["size_histogram"] == {"1": 0, "2-3": 1, "4-7": 1, "8-15": 1, "16-31": 0,
                                       "32-63": 0, "64+": 0}
    assert DIAG not in stats


def test_diagnostics_only_with_ground_truth():
    labels = np.array([0, 0, 0, 1, 1, -1, -1])
    pids = np.array([5, 5, 6, 6, 6, 7, 7])
    diag = cluster_stats(labels, pids)[DIAG]
    assert diag["true_ids"] == 3
    assert diag["purity"] == pytest.approx(4 / 5)  # cluster 0: 2 of 3, cluster 1: 2 of 2
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    singletons = np.array([0, 0, 0, 1, 1, 2, 3])  # each outlier its own cluster
    assert diag["nmi"] == pytest.approx(normalized_mutual_info_score(pids, singletons))
    assert diag["ari"] == pytest.approx(adjusted_rand_score(pids, singletons))
    perfect = cluster_stats(np.array([0, 0, 1, 1]), np.array([3, 3, 4, 4]))[DIAG]
    assert perfect["nmi"] == pytest.approx(1) and perfect["ari"] == pytest.approx(1)


def test_all_outliers():
    stats = cluster_stats(np.array([-1, -1, -1]), np.array([1, 2, 3]))
    assert stats["clusters"] == 0 and stats["outliers"] == 3 and stats["largest_cluster"] == 0
    assert np.isnan(stats[DIAG]["purity"])


def test_one_camera_share_by_hand():
    labels = np.array([0, 0, 1, 1, 1, -1, 2])
    cams = np.array([1, 1, 1, 2, 1, 3, 4])
    # cluster 0: cameras {1} (2 images), 1: {1, 2} (3), 2: {4} (1); the outlier is not counted
    assert one_camera_share(labels, cams) == pytest.approx(3 / 6)
    assert cluster_stats(labels, cams=cams)["one_camera_share"] == pytest.approx(0.5)
    assert "one_camera_share" not in cluster_stats(labels)
    # labels need not be contiguous
    assert one_camera_share(np.array([5, 5, 9]), np.array([0, 1, 0])) == pytest.approx(1 / 3)
    assert one_camera_share(np.array([-1, -1]), np.array([0, 1])) == 0.0
