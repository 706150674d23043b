"""Clustering statistics: counts, size histogram, one-camera share; NMI/ARI/purity as
ground-truth diagnostics."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

SIZE_BUCKETS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, None))


def size_histogram(sizes: np.ndarray) -> dict[str, int]:
    """Number of clusters per size bucket (1, 2-3, 4-7, ..., 64+)."""
    out = {}
    for lo, hi in SIZE_BUCKETS:
        name = f"{lo}+" if hi is None else (f"{lo}" if lo == hi else f"{lo}-{hi}")
        upper = np.inf if hi is None else hi
        out[name] = int(((sizes >= lo) & (sizes <= upper)).sum())
    return out


def _singletons(labels: np.ndarray) -> np.ndarray:
    """Each outlier becomes its own cluster (so outliers are never lumped together)."""
    out = labels.copy()
    outliers = out < 0
    out[outliers] = out.max(initial=-1) + 1 + np.arange(int(outliers.sum()))
    return out


def one_camera_share(labels: np.ndarray, cams: np.ndarray) -> float:
    """Share of clustered images whose whole cluster comes from one camera. Near 1 means the
    features separate cameras rather than people (a ReID identity is seen by 2+ cameras); it
    needs no ground truth, so training can watch it."""
    labels, cams = np.asarray(labels, dtype=np.int64), np.asarray(cams, dtype=np.int64)
    clustered = labels >= 0
    if not clustered.any():
        return 0.0
    ids, cluster = np.unique(labels[clustered], return_inverse=True)
    pairs = np.unique(np.stack([cluster, cams[clustered]]), axis=1)  # distinct (cluster, camera)
    cameras_seen = np.bincount(pairs[0], minlength=len(ids))
    return float((cameras_seen == 1)[cluster].mean())


def cluster_stats(
    labels: np.ndarray, true_pids: np.ndarray | None = None, cams: np.ndarray | None = None
) -> dict[str, Any]:
    """Clusters, outliers, sizes (and the one-camera share with `cams`); with `true_pids`,
    diagnostics that use ground truth.

    Diagnostics: NMI and ARI over all images with each outlier as a singleton cluster; purity =
    share of clustered images whose true id is their cluster's majority id (outliers excluded).
    """
    labels = np.asarray(labels, dtype=np.int64)
    clustered = labels >= 0
    sizes = np.bincount(labels[clustered]) if clustered.any() else np.zeros(0, np.int64)
    sizes = sizes[sizes > 0]
    stats: dict[str, Any] = {
        "images": int(len(labels)),
        "clusters": int(len(sizes)),
        "outliers": int((~clustered).sum()),
        "outlier_fraction": float((~clustered).mean()) if len(labels) else 0.0,
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "mean_cluster_size": float(sizes.mean()) if len(sizes) else 0.0,
        "size_histogram": size_histogram(sizes),
    }
    if cams is not None:
        stats["one_camera_share"] = one_camera_share(labels, cams)
    if true_pids is not None:
        pids = np.asarray(true_pids)
        if len(pids) != len(labels):
            raise ValueError("true_pids and labels differ in length")
        purity = float("nan")
        if clustered.any():
            _, pid_idx = np.unique(pids[clustered], return_inverse=True)
            table = np.zeros((int(labels[clustered].max()) + 1, int(pid_idx.max()) + 1), np.int64)
            np.add.at(table, (labels[clustered], pid_idx.ravel()), 1)
            purity = float(table.max(axis=1).sum() / clustered.sum())
        stats["diagnostic (uses ground truth)"] = {
            "true_ids": int(len(np.unique(pids))),
            "nmi": float(normalized_mutual_info_score(pids, _singletons(labels))),
            "ari": float(adjusted_rand_score(pids, _singletons(labels))),
            "purity": purity,
        }
    return stats
