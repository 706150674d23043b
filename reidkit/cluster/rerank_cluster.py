"""JVTC's clustering distance as the authors' code computes it (`re_ranking(original_dist)`: k1 20,
k2 6, d = (1 − λ)·Jaccard + λ·original, then the rho rule and DBSCAN), in bounded memory.

The original distance is the squared Euclidean distance of the (unit) memory rows, 2 − 2·cos, or
for JVTC+ the joint visual–temporal distance. Each row is min–max normalised over all N columns
(the authors' `original_dist - min(axis=0)`, `/ max(axis=0)`, transposed), so the result is not
symmetric. The ranking and the encoding weights `exp(−normalised)` use the normalised rows.
The authors' float16 V and Jaccard matrix are not reproduced (values here are float32/float64).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from reidkit.cluster import bounded
from reidkit.cluster.bounded import (
    Block,
    PairDistance,
    Pairs,
    below,
    exact_overlap,
    jaccard_floor,
    jaccard_of,
    needed_overlap,
)
from reidkit.cluster.collect import Clustering, cluster_rule, selection
from reidkit.cluster.jaccard import (
    _ZERO,
    _pair_dots,
    _row_ids,
    _similarities,
    encoding,
    expanded_sets,
)
from reidkit.cluster.knn import as_unit_rows
from reidkit.device import resolve_device
from reidkit.errors import ConfigError

if TYPE_CHECKING:
    from reidkit.cluster.temporal import TemporalModel, Timeline

JVTC_K1, JVTC_K2, JVTC_LAMBDA, JVTC_TEMPORAL_LAMBDA = 20, 6, 0.3, 0.5


def _rows_per_block(width: int) -> int:
    return max(1, bounded.BLOCK_PAIRS // max(width, 1))


def normalise(raw: np.ndarray, low: np.ndarray, scale: np.ndarray,
              out: np.ndarray | None = None) -> np.ndarray:
    """(raw − row min) / (row max − row min), clipped at 0: a pair whose value was computed by
    another route than the row's minimum may fall below it by a rounding error. `out` may be
    `raw` itself (a block's matrix normalised without a copy)."""
    out = np.subtract(raw, low, out=out)
    out /= scale
    return np.maximum(out, 0.0, out=out)


class VisualDistance:
    """The authors' visual original distance: squared Euclidean, 2 − 2·cos for unit rows (raw[i, i]
    is exactly 0, as their cdist gives)."""

    symmetric = True  # raw[i, k] = raw[k, i]

    def __init__(self, x: np.ndarray):
        self.x = x
        self.n = len(x)
        self.device = resolve_device("auto")
        self.rows = torch.from_numpy(x).to(self.device)
        self.sims = np.zeros((self.n, 0), np.float32)
        self.rank = np.zeros((self.n, 0), np.int64)

    def cos_block(self, a: int, b: int, c0: int) -> torch.Tensor:
        """cos of rows [a, b) × [c0, N), clipped to [−1, 1], on the device."""
        return (self.rows[a:b] @ self.rows[c0:].T).clamp_(-1.0, 1.0)

    def _raw(self, cos: torch.Tensor, a: int, c0: int) -> np.ndarray:
        raw = cos.cpu().numpy().astype(np.float64)
        raw *= -2.0
        raw += 2.0
        np.maximum(raw, 0.0, out=raw)
        r = np.arange(raw.shape[0])
        on = (a + r >= c0) & (a + r - c0 < raw.shape[1])
        raw[r[on], a + r[on] - c0] = 0.0
        return raw

    def scan(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first k columns of each row's ranking, row minimum, row maximum) over all N columns."""
        self.sims = np.empty((self.n, k), np.float32)
        self.rank = np.empty((self.n, k), np.int64)
        low = np.empty(self.n, np.float64)
        step = _rows_per_block(self.n)
        for a in range(0, self.n, step):
            b = min(self.n, a + step)
            cos = self.cos_block(a, b, 0)
            cos[torch.arange(b - a), torch.arange(a, b)] = 1.0
            values, indices = torch.topk(cos, k, dim=1, largest=True, sorted=True)
            self.sims[a:b] = values.cpu().numpy()
            self.rank[a:b] = indices.cpu().numpy()
            low[a:b] = cos.min(1).values.cpu().numpy()
        return self.rank, np.zeros(self.n), np.maximum(2.0 - 2.0 * low, 0.0)

    def _from_cos(self, cos: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        raw = np.maximum(2.0 - 2.0 * np.minimum(cos, 1.0), 0.0)
        raw[rows == cols] = 0.0
        return raw

    def raw_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """raw[rows, cols], from the features."""
        return self._from_cos(_pair_dots(self.x, rows, cols), rows, cols)

    def expanded_raw(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """raw[rows, cols] for the expanded sets: cosines read from the scan where present."""
        cos = _similarities(self.x, self.sims, self.rank, rows, cols)
        return self._from_cos(cos, rows, cols)

    def raw_block(self, a: int, b: int, c0: int) -> tuple[np.ndarray, np.ndarray]:
        """(raw[i, k], raw[k, i]) for i in [a, b), k in [c0, N): the same matrix, symmetric."""
        raw = self._raw(self.cos_block(a, b, c0), a, c0)
        return raw, raw


class JointDistance(VisualDistance):
    """JVTC+: the joint distance `joint(rows, cols, cos)` as the original distance. The authors'
    matrix D[q, g] = joint(q, g) is transposed by their normalisation: raw[i, j] = joint(j, i)."""

    symmetric = False

    def __init__(self, x: np.ndarray, joint: PairDistance):
        super().__init__(x)
        self.joint = joint

    def _joint_block(self, a: int, b: int, c0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cos = self.cos_block(a, b, c0).cpu().numpy().astype(np.float64).ravel()
        width = self.n - c0
        i = np.repeat(np.arange(a, b), width)
        k = np.tile(np.arange(c0, self.n), b - a)
        return i, k, cos

    def scan(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ranking and row min / max of raw[i, :] = joint(:, i), block by block."""
        self.rank = np.empty((self.n, k), np.int64)
        low, high = np.empty(self.n), np.empty(self.n)
        step = _rows_per_block(self.n)
        for a in range(0, self.n, step):
            b = min(self.n, a + step)
            i, j, cos = self._joint_block(a, b, 0)
            raw = np.asarray(self.joint(j, i, cos), dtype=np.float64).reshape(b - a, self.n)
            self.rank[a:b] = torch.topk(torch.from_numpy(raw), k, dim=1, largest=False,
                                        sorted=True).indices.numpy()
            low[a:b], high[a:b] = raw.min(1), raw.max(1)
        return self.rank, low, high

    def raw_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """raw[rows, cols] = joint(cols, rows)."""
        cos = _pair_dots(self.x, rows, cols)
        return np.asarray(self.joint(cols, rows, cos), dtype=np.float64)

    def expanded_raw(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """No ranking cosines to reuse: as `raw_pairs`."""
        return self.raw_pairs(rows, cols)

    def raw_block(self, a: int, b: int, c0: int) -> tuple[np.ndarray, np.ndarray]:
        """(raw[i, k], raw[k, i]): the joint distance evaluated both ways."""
        i, k, cos = self._joint_block(a, b, c0)
        shape = (b - a, self.n - c0)
        up = np.asarray(self.joint(k, i, cos), dtype=np.float64).reshape(shape)
        down = np.asarray(self.joint(i, k, cos), dtype=np.float64).reshape(shape)
        return up, down


class RerankRule:
    """d[i, k] = (1 − λ)·Jaccard_ik + λ·(raw[i, k] − lo_i)/(hi_i − lo_i), all N² pairs.

    Disjoint encodings give Jaccard 1, so d ≥ 1 − λ: below that threshold only overlapping pairs
    are examined (sparse); at or above it the block's original distances are computed densely.
    """

    absent_is_one = False

    def __init__(self, v: sp.csr_matrix, dist: VisualDistance, low: np.ndarray,
                 high: np.ndarray, lambda_value: float):
        self.v, self.dist, self.lam = v, dist, lambda_value
        self.low, self.scale = low, np.maximum(high - low, 1e-12)

    def _normalised(self, raw: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return normalise(raw, self.low[rows], self.scale[rows])

    def pairs(self, block: Block, threshold: float) -> Pairs:
        """Below 1 − λ the overlapping pairs only (sparse), else every pair of the block."""
        lam = self.lam
        if threshold < 1 - lam:
            i, k, bc = block.pairs(needed_overlap(max(threshold, _ZERO) / (1 - lam)))
            floor = jaccard_floor(bc)
            keep = below((1 - lam) * floor, threshold)
            i, k, floor = i[keep], k[keep], floor[keep]
            up, down = self._both(i, k)
            stored = np.ones(len(i), dtype=bool)
        else:
            i, k, bc = block.pairs()
            i, k, floor, up, down, stored = self._dense(block.a, block.b, i, k,
                                                         jaccard_floor(bc), threshold)
        return Pairs(i, k, (1 - lam) * floor + lam * up, (1 - lam) * floor + lam * down,
                     {"up": up, "down": down, "stored": stored})

    def _both(self, i: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised original distances [i, k] and [k, i]."""
        raw = self.dist.raw_pairs(i, k)
        back = raw if self.dist.symmetric else self.dist.raw_pairs(k, i)
        return self._normalised(raw, i), self._normalised(back, k)

    def pairs_of(self, i: np.ndarray, k: np.ndarray) -> Pairs:
        """Any pairs, with their normalised original distances (disjoint ones get m = 0)."""
        up, down = self._both(i, k)
        low = np.zeros(len(i))
        return Pairs(i, k, low, low, {"up": up, "down": down, "stored": np.ones(len(i), bool)})

    def exact(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """(1 − λ)·Jaccard + λ·normalised original, both ways (Jaccard 1 when disjoint)."""
        jac = np.ones(len(pairs))
        hit = pairs.extra["stored"]
        jac[hit] = jaccard_of(exact_overlap(self.v, pairs.i[hit], pairs.k[hit]))
        lam = self.lam
        return ((1 - lam) * jac + lam * pairs.extra["up"],
                (1 - lam) * jac + lam * pairs.extra["down"])

    def _dense(self, a: int, b: int, i: np.ndarray, k: np.ndarray, floor: np.ndarray,
               threshold: float) -> tuple[np.ndarray, ...]:
        """Every pair k > i of rows [a, b) whose lower bound may be ≤ threshold; the block's
        matrices are normalised in place and disjoint pairs take Jaccard 1 without an array."""
        lam = self.lam
        raw_up, raw_down = self.dist.raw_block(a, b, a)
        rows = np.arange(a, b)
        up = normalise(raw_up, self.low[rows, None], self.scale[rows, None],
                       out=None if raw_up is raw_down else raw_up)
        down = normalise(raw_down, self.low[None, a:], self.scale[None, a:], out=raw_down)
        r, c = i - a, k - a
        low = np.minimum(up, down)
        low *= lam
        overlapping = low[r, c] + (1 - lam) * floor
        low += 1 - lam
        low[r, c] = overlapping
        low[np.tril_indices(b - a, m=low.shape[1])] = np.nan  # k ≤ i: not an upper pair
        position = np.full(low.shape, -1, dtype=np.int32)
        position[r, c] = np.arange(len(r), dtype=np.int32)
        r, c = np.nonzero(low <= max(threshold, _ZERO))
        at = position[r, c]
        stored = at >= 0
        jac = np.ones(len(r))
        jac[stored] = floor[at[stored]]
        return ((r + a).astype(i.dtype), (c + a).astype(i.dtype), jac, up[r, c], down[r, c],
                stored)

    def diagonal(self) -> np.ndarray:
        """λ·normalised raw[i, i]: 0 for the visual distance, not for the joint one."""
        own = np.arange(self.v.shape[0])
        return self.lam * self._normalised(self.dist.raw_pairs(own, own), own)


def rerank_encoding(dist: VisualDistance, rank: np.ndarray, low: np.ndarray, high: np.ndarray,
                    k1: int, k2: int) -> sp.csr_matrix:
    """V of the authors' re_ranking: weights exp(−normalised original distance) over each
    expanded set (k1 + 1 ranking columns), then the mean over the first k2 ranks."""
    expanded = expanded_sets(rank, k1)
    rows, cols = _row_ids(expanded), expanded.indices.astype(np.int64)
    scale = np.maximum(high - low, 1e-12)
    normalised = normalise(dist.expanded_raw(rows, cols), low[rows], scale[rows])
    return encoding(expanded, -normalised, rank, k2)


def rerank_cluster(
    features: torch.Tensor | np.ndarray,
    *,
    eps: float | None = None,
    rho: float | None = None,
    k1: int = JVTC_K1,
    k2: int = JVTC_K2,
    lambda_value: float = JVTC_LAMBDA,
    min_samples: int = 1,
    original: PairDistance | None = None,
) -> Clustering:
    """JVTC's relabelling rule: DBSCAN on the re-ranked distance, eps fixed or from the rho rule.

    `original(rows, cols, cos)` replaces the visual original distance (JVTC+: the joint one).
    """
    if min_samples < 1 or k1 < 1 or k2 < 1:
        raise ConfigError("k1, k2 and min_samples must be at least 1")
    if not 0 <= lambda_value <= 1:
        raise ConfigError(f"the re-ranking lambda must be in [0, 1], got {lambda_value}")
    x = as_unit_rows(features)
    chosen = selection(eps, rho, len(x))
    dist = VisualDistance(x) if original is None else JointDistance(x, original)
    rank, low, high = dist.scan(min(k1 + 1, len(x)))
    v = rerank_encoding(dist, rank, low, high, k1, k2)
    rule = RerankRule(v, dist, low, high, lambda_value)
    return cluster_rule(v, rule, chosen, min_samples, rank)


def rerank_temporal_labels(
    features: np.ndarray,
    timeline: Timeline,
    *,
    eps: float | None = None,
    rho: float | None = None,
    k1: int = JVTC_K1,
    k2: int = JVTC_K2,
    lambda_value: float = JVTC_LAMBDA,
    temporal_lambda: float = JVTC_TEMPORAL_LAMBDA,
    min_samples: int = 1,
) -> tuple[np.ndarray, float, TemporalModel]:
    """JVTC+ relabelling as the authors' `reset_label_based_joint_smi`: visual clusters, the
    temporal model fitted on them, then the joint distance re-ranked (λ = temporal_lambda)."""
    from reidkit.cluster.temporal import TemporalModel

    rule = dict(eps=eps, rho=rho, k1=k1, k2=k2, min_samples=min_samples)
    visual = rerank_cluster(features, lambda_value=lambda_value, **rule)
    model = TemporalModel.fit(timeline, visual.labels)
    joint = rerank_cluster(features, lambda_value=temporal_lambda,
                           original=model.pair_distance(timeline), **rule)
    return joint.labels, joint.eps, model
