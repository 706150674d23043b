"""JVTC+ temporal model: camera timelines from file names, gap histograms per camera pair fitted on
pseudo identities, and the joint visual-temporal distance used by clustering and evaluation."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import correlate1d

from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.errors import DatasetError

BIN_FRAMES = 100  # frames per histogram bin
BINS = 3000  # histogram length; larger gaps fall in the last bin (the public code overflows)
SIGMA_BINS = 50  # Gaussian smoothing, in bins
TRUNCATE = 3  # smoothing kernel covers |offset| <= 3 sigma
GAMMA = 5.0  # steepness of both logistic terms of the joint similarity
_NORM_EPS = 1e-7  # the public code's guard when normalising an empty histogram
TIMELINE_KINDS = {"market": "sequence", "duke": "global", "msmt": "slot"}


@dataclass(frozen=True)
class Timeline:
    """Per image: 0-based camera, time on that camera's timeline (frames), and a group id; images
    in different groups (MSMT17 time slots) share no clock, so their temporal probability is 0."""

    camid: np.ndarray
    time: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return len(self.camid)


def _sequence(record: ImageRecord) -> int:
    match = re.search(r"\d+", record.session or "")
    if match is None:
        raise DatasetError(
            f"Market image without a sequence number (session={record.session!r})",
            path=record.path,
            fix="Market names look like 0002_c1s1_000451_03.jpg",
        )
    return int(match.group())


def _frames(records: Sequence[ImageRecord]) -> np.ndarray:
    missing = [r for r in records if r.frame is None]
    if missing:
        raise DatasetError(
            f"{len(missing)} images carry no frame number, the temporal model cannot be built",
            path=missing[0].path,
            fix="use --temporal only with market, duke or msmt file names",
        )
    return np.array([r.frame for r in records], dtype=np.float64)


def market_offsets(train: Sequence[ImageRecord]) -> dict[tuple[int, int], float]:
    """Largest training frame of every (camera, sequence): Market frame numbers restart with each
    sequence, so sequence s of a camera is shifted by the sum of those of sequences before it."""
    frames = _frames(train)
    largest: dict[tuple[int, int], float] = {}
    for record, frame in zip(train, frames, strict=True):
        key = (record.camid, _sequence(record))
        largest[key] = max(largest.get(key, 0.0), float(frame))
    return largest


def sequence_offset(largest: dict[tuple[int, int], float], camid: int, seq: int) -> float:
    """Offset of (camera, sequence): Σ of the largest training frames of its earlier sequences."""
    return float(sum(v for (c, s), v in largest.items() if c == camid and s < seq))


def timeline_kind(dataset_name: str) -> str:
    """How a dataset's names encode time: sequence (Market), global (Duke) or slot (MSMT17)."""
    kind = TIMELINE_KINDS.get(dataset_name.lower())
    if kind is None:
        raise DatasetError(
            f"dataset '{dataset_name}' has no frame numbers in its file names",
            fix="the temporal model (JVTC+, --temporal) supports market, duke and msmt",
        )
    return kind


def build_timeline(
    records: Sequence[ImageRecord],
    kind: str,
    largest: dict[tuple[int, int], float] | None = None,
) -> Timeline:
    """Timeline of `records`; `kind` from `timeline_kind`. Market needs `market_offsets(train)`."""
    frames = _frames(records)
    camid = np.array([r.camid for r in records], dtype=np.int64)
    group = np.zeros(len(records), dtype=np.int64)
    if kind == "sequence":
        if largest is None:
            raise ValueError("Market timelines need market_offsets(train)")
        cache: dict[tuple[int, int], float] = {}
        for i, record in enumerate(records):
            key = (record.camid, _sequence(record))
            if key not in cache:
                cache[key] = sequence_offset(largest, *key)
            frames[i] += cache[key]
    elif kind == "slot":
        slots = {s: i for i, s in enumerate(sorted({r.session or "" for r in records}))}
        group = np.array([slots[r.session or ""] for r in records], dtype=np.int64)
    elif kind != "global":
        raise ValueError(f"unknown timeline kind {kind}")
    return Timeline(camid=camid, time=frames, group=group)


def dataset_timelines(
    dataset: ReidDataset, splits: Sequence[str] = ("train", "query", "gallery")
) -> dict[str, Timeline]:
    """Timelines of a dataset's splits (Market offsets always from its training split)."""
    kind = timeline_kind(dataset.name)
    largest = market_offsets(dataset.train) if kind == "sequence" else None
    return {s: build_timeline(dataset.split(s), kind, largest) for s in splits}


def gap_bin(gap: np.ndarray) -> np.ndarray:
    """Histogram bin of a non-negative frame gap, clipped to the last bin."""
    return np.minimum((np.asarray(gap, dtype=np.float64) // BIN_FRAMES).astype(np.int64), BINS - 1)


def gaussian_kernel() -> np.ndarray:
    """N(0, σ) density at integer offsets −3σ..3σ (the public code's `gaussian_func`)."""
    offsets = np.arange(-TRUNCATE * SIGMA_BINS, TRUNCATE * SIGMA_BINS + 1, dtype=np.float64)
    return np.exp(-(offsets**2) / (2 * SIGMA_BINS**2)) / (SIGMA_BINS * np.sqrt(2 * np.pi))


def smooth(histograms: np.ndarray) -> np.ndarray:
    """Gaussian smoothing along the last axis, zero outside the histogram."""
    return correlate1d(histograms, gaussian_kernel(), axis=-1, mode="constant", cval=0.0)


def joint_distance(cos: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """JVTC+: 1 − 1/(1+e^{−γs}) · 1/(1+2e^{−γp}), s cosine similarity, p temporal probability."""
    cos, prob = np.asarray(cos, dtype=np.float64), np.asarray(prob, dtype=np.float64)
    return 1.0 - 1.0 / (1.0 + np.exp(-GAMMA * cos)) / (1.0 + 2.0 * np.exp(-GAMMA * prob))


def gap_histograms(timeline: Timeline, labels: np.ndarray, cams: int) -> np.ndarray:
    """Raw counts [later camera, earlier camera, gap bin] from pseudo identities (public rule)."""
    hist = np.zeros((cams, cams, BINS), dtype=np.float64)
    keep = labels >= 0
    if not keep.any():
        return hist
    pairs = np.stack([labels[keep], timeline.group[keep]], axis=1)
    _, unit = np.unique(pairs, axis=0, return_inverse=True)
    unit = unit.ravel()
    cam, time = timeline.camid[keep], timeline.time[keep]
    units = int(unit.max()) + 1
    count = np.zeros((units, cams))
    total = np.zeros((units, cams))
    np.add.at(count, (unit, cam), 1)
    np.add.at(total, (unit, cam), time)
    mean = total / (count + _NORM_EPS)
    a, b = np.triu_indices(cams, k=1)
    present = (count[:, a] > 0) & (count[:, b] > 0)
    u_idx, p_idx = np.nonzero(present)
    diff = mean[u_idx, a[p_idx]] - mean[u_idx, b[p_idx]]
    later = np.where(diff > 0, a[p_idx], b[p_idx])
    earlier = np.where(diff > 0, b[p_idx], a[p_idx])
    np.add.at(hist, (later, earlier, gap_bin(np.abs(diff))), 1.0)
    first = np.full((units, cams), np.inf)
    np.minimum.at(first, (unit, cam), time)
    repeated = count[unit, cam] > 1
    gaps = time[repeated] - first[unit[repeated], cam[repeated]]
    c = cam[repeated]
    np.add.at(hist, (c, c, gap_bin(gaps)), count[unit[repeated], c])
    return hist


@dataclass
class TemporalModel:
    """Smoothed, normalised gap distributions [later camera, earlier camera, bin]."""

    distribution: np.ndarray

    @classmethod
    def fit(cls, timeline: Timeline, labels: np.ndarray, cams: int | None = None) -> TemporalModel:
        """Fit on pseudo (or true) identities; outliers (−1) are ignored."""
        labels = np.asarray(labels, dtype=np.int64)
        cams = max(int(cams or 0), int(timeline.camid.max(initial=-1)) + 1)
        hist = smooth(gap_histograms(timeline, labels, cams))
        return cls(hist / (hist.sum(axis=2, keepdims=True) + _NORM_EPS))

    def probability(
        self, a: Timeline, ia: np.ndarray, b: Timeline, ib: np.ndarray
    ) -> np.ndarray:
        """p for the pairs (a[ia], b[ib]): the later image's camera first, gap bin clipped."""
        cam_a, cam_b = a.camid[ia], b.camid[ib]
        gap = a.time[ia] - b.time[ib]
        later = np.where(gap > 0, cam_a, cam_b)
        earlier = np.where(gap > 0, cam_b, cam_a)
        cams = self.distribution.shape[0]
        known = (later < cams) & (earlier < cams) & (a.group[ia] == b.group[ib])
        prob = np.zeros(len(gap), dtype=np.float64)
        prob[known] = self.distribution[later[known], earlier[known], gap_bin(np.abs(gap[known]))]
        return prob

    def pair_distance(
        self, timeline: Timeline
    ) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """Callable (rows, cols, cos) -> joint distance within one split, for `pseudo_labels`."""

        def joint(rows: np.ndarray, cols: np.ndarray, cos: np.ndarray) -> np.ndarray:
            return joint_distance(cos, self.probability(timeline, rows, timeline, cols))

        return joint

    def distance_matrix(
        self, q_feat: np.ndarray, g_feat: np.ndarray, q_tl: Timeline, g_tl: Timeline
    ) -> np.ndarray:
        """Query × gallery joint distance (the JVTC+ evaluation protocol), row block by block."""
        out = np.empty((len(q_feat), len(g_feat)), dtype=np.float32)
        cols = np.arange(len(g_feat))
        for start in range(0, len(q_feat), 256):
            rows = np.arange(start, min(start + 256, len(q_feat)))
            cos = q_feat[rows] @ g_feat.T
            rr = np.repeat(rows, len(cols))
            cc = np.tile(cols, len(rows))
            prob = self.probability(q_tl, rr, g_tl, cc).reshape(len(rows), len(cols))
            out[rows] = joint_distance(cos, prob)
        return out


def temporal_pseudo_labels(
    features: np.ndarray, timeline: Timeline, **cluster_kwargs: float | int | None
) -> tuple[np.ndarray, float, TemporalModel]:
    """JVTC+ relabelling as train-joint does it: visual clusters, a temporal model fitted on them,
    then clusters on the Jaccard distance mixed with the joint distance. Returns labels, eps used,
    the model. (The JVTC+ warm-up re-ranks the joint distance: `rerank_temporal_labels`.)"""
    from reidkit.cluster.labels import cluster_jaccard

    visual = cluster_jaccard(features, **cluster_kwargs).labels
    model = TemporalModel.fit(timeline, visual)
    joint = cluster_jaccard(features, temporal=model.pair_distance(timeline), **cluster_kwargs)
    return joint.labels, joint.eps, model
