"""Bounded-memory DBSCAN on k-reciprocal Jaccard distances: the distance is produced in row blocks
and only the pairs that can matter are kept (those within eps, or those the rho rule can select).

Every rule (the pure Jaccard of GCL/ICE, its JVTC+ temporal mix, JVTC's re-ranking in
`rerank_cluster`) gives each pair a cheap lower bound of its distance; a pair is verified (its
exact value computed) only when that bound is below the current threshold, and kept only when its
exact value is. The bound comes from the Bhattacharyya overlap BC_ik = Σ_j √(V_ij V_kj) ≥
m_ik = Σ_j min(V_ij, V_kj): one sparse product per row block (docs/clustering.md).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import DBSCAN

from reidkit import log
from reidkit.cluster.jaccard import _ZERO, _pair_dots
from reidkit.errors import ConfigError

BLOCK_PAIRS = 1 << 21  # pairs of one row block (rows × columns): bounds every per-block array
WORKERS = min(4, len(os.sched_getaffinity(0)))  # threads for block products and verification
PARALLEL_PAIRS = 1 << 14  # fewest pairs whose verification is split over WORKERS threads
GATHER = 1 << 20  # encoding entries looked up per verification chunk
DENSE_ELEMENTS = 1 << 20  # float64 scratch rows of V laid out densely during verification
CANDIDATES = 6  # rho rule: candidates kept by the first pass, in multiples of the selected count
POOL_PAIRS = 1 << 25  # ... but no more than this many unless the selected count needs them
STEP = 1024  # rho rule: fewest candidates verified at a time
SEED = 3  # rho rule: near-neighbour pairs verified first, in multiples of the selected count
_SLACK = 1e-9  # relative safety margin on BC before it bounds the Jaccard distance
PairDistance = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
T = TypeVar("T")


def jaccard_of(overlap: np.ndarray) -> np.ndarray:
    """d = 1 − m/(2 − m), negatives clipped, rounding residues of identical encodings → 0."""
    d = np.maximum(1.0 - overlap / (2.0 - overlap), 0.0)
    d[d < _ZERO] = 0.0
    return d


def jaccard_floor(bc: np.ndarray) -> np.ndarray:
    """A lower bound of the Jaccard distance from BC ≥ m (the distance falls as m grows)."""
    m = np.minimum(bc * (1.0 + _SLACK) + _SLACK, 1.0)
    return np.maximum(1.0 - m / (2.0 - m), 0.0)


def exact_overlap(v: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """m = Σ_j min(V_rj, V_cj) per pair, the pairs sorted by row and split into WORKERS runs of
    whole rows, computed side by side (the gathers release the GIL)."""
    out = np.zeros(len(rows))
    if not len(rows):
        return out
    order = np.argsort(rows, kind="stable")
    r, c = rows[order], cols[order]
    parts = WORKERS if len(r) >= PARALLEL_PAIRS else 1
    marks = np.linspace(0, len(r), parts + 1).astype(np.int64)[1:-1]
    cuts = [0, *np.searchsorted(r, r[marks]).tolist(), len(r)]
    runs = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    with ThreadPoolExecutor(parts) as pool:
        out[order] = np.concatenate(list(pool.map(lambda run: _sorted_overlap(v, r[run], c[run]),
                                                  runs)))
    return out


def _sorted_overlap(v: sp.csr_matrix, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """`exact_overlap` of pairs sorted by row: a few rows of V laid out densely at a time, the
    entries of each partner row looked up in them (memory bounded by DENSE_ELEMENTS and GATHER)."""
    out = np.zeros(len(r))
    if not len(r):
        return out
    n = v.shape[1]
    lengths = np.diff(v.indptr)[c]
    slot = np.cumsum(np.r_[True, r[1:] != r[:-1]]) - 1
    ends = np.cumsum(lengths)
    per = max(1, DENSE_ELEMENTS // n)
    table = np.zeros(per * n)
    start = 0
    while start < len(r):
        stop = min(np.searchsorted(slot, slot[start] + per),
                   np.searchsorted(ends, ends[start] - lengths[start] + GATHER, side="right"))
        stop = max(stop, start + 1)
        chunk = r[start:stop]
        own = v[chunk[np.r_[True, chunk[1:] != chunk[:-1]]]]
        spots = np.repeat(np.arange(own.shape[0]) * n, np.diff(own.indptr)) + own.indices
        table[spots] = own.data
        partner = v[c[start:stop]]
        local = np.repeat((slot[start:stop] - slot[start]) * n, lengths[start:stop])
        mins = np.minimum(partner.data, table.take(local + partner.indices))
        filled = lengths[start:stop] > 0
        sums = np.zeros(stop - start)
        if len(mins):
            sums[filled] = np.add.reduceat(mins, partner.indptr[:-1][filled])
        out[start:stop] = sums
        table[spots] = 0.0
        start = stop
    return out


def needed_overlap(jaccard: float) -> float:
    """The smallest BC with `jaccard_floor(BC) ≤ jaccard` (slightly less: a safe pre-filter)."""
    if jaccard >= 1:
        return 0.0
    m = 2 * (1 - jaccard) / (2 - jaccard)
    return max((m - _SLACK) / (1 + _SLACK) - 1e-12, 0.0)


@dataclass
class Block:
    """Rows [a, b) of BC = √V·√Vᵀ over the columns k ≥ origin (a sparse product)."""

    a: int
    b: int
    origin: int
    product: sp.csr_matrix

    def pairs(self, overlap: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, k, BC_ik) of the pairs k > i with BC_ik ≥ overlap (every stored one when 0)."""
        p = self.product
        index = np.int32 if p.shape[1] + self.origin < 2**31 else np.int64
        if overlap > 0:
            at = np.flatnonzero(p.data >= overlap)
            rows = np.searchsorted(p.indptr, at, side="right") - 1
            cols, bc = p.indices[at], p.data[at]
        else:
            rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
            cols, bc = p.indices, p.data
        i = rows.astype(index) + self.a
        k = cols.astype(index) + self.origin
        keep = k > i
        return i[keep], k[keep], bc[keep]


def block_schedule(n: int) -> list[tuple[int, int, int]]:
    """(a, b, origin) of every row block: rows [a, b) against the columns k ≥ origin, at most
    BLOCK_PAIRS pairs each; origin moves up to a when the blocks have passed an eighth of the
    remaining rows, so little work is spent on pairs k < a."""
    schedule, origin, a = [], 0, 0
    while a < n:
        if a - origin > (n - origin) // 8:
            origin = a
        b = min(n, a + max(1, BLOCK_PAIRS // (n - origin)))
        schedule.append((a, b, origin))
        a = b
    return schedule


def upper_blocks(v: sp.csr_matrix, select: Callable[[Block, float], T],
                 threshold: Callable[[], float]) -> Iterator[tuple[int, int, T]]:
    """(a, b, select(block, t)) for every row block of BC_ik = Σ_j √(V_ij V_kj) ≥ m_ik over the
    pairs whose encodings share a column, in order. The sparse products and `select` (a rule's
    candidates; numpy and scipy release the GIL) run on WORKERS threads ahead of the consumer, so
    at most WORKERS + 2 blocks are held at once. t = threshold() when the block is submitted, in
    the consumer's thread, so the result does not depend on the threads' timing."""
    n = v.shape[0]
    root = sp.csr_matrix((np.sqrt(v.data), v.indices, v.indptr), shape=v.shape)
    pending: deque[tuple[int, int, Future[T]]] = deque()
    tail_origin, tail = -1, root
    schedule = block_schedule(n)
    with ThreadPoolExecutor(WORKERS) as pool, log.task("jaccard blocks", total=n) as progress:
        for index, (a, b, origin) in enumerate(schedule):
            if origin != tail_origin:
                tail_origin, tail = origin, root[origin:].T.tocsr()
            task = pool.submit(_selected, root, a, b, origin, tail, select, threshold())
            pending.append((a, b, task))
            while pending and (len(pending) > WORKERS or index == len(schedule) - 1):
                first, last, future = pending.popleft()
                yield first, last, future.result()
                progress.advance(last - first)


def _selected(root: sp.csr_matrix, a: int, b: int, origin: int, tail: sp.csr_matrix,
              select: Callable[[Block, float], T], threshold: float) -> T:
    """One row block's product √V[a:b] · (√V[origin:])ᵀ, passed through `select`."""
    return select(Block(a, b, origin, root[a:b] @ tail), threshold)


@dataclass
class Pairs:
    """Candidate pairs i < k with lower bounds of d[i, k] (`low_up`) and d[k, i] (`low_down`), and
    whatever else their rule needs to compute the exact values (`extra`, one array per name)."""

    i: np.ndarray
    k: np.ndarray
    low_up: np.ndarray
    low_down: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of pairs."""
        return len(self.i)

    @property
    def low(self) -> np.ndarray:
        """The smaller bound of the two directions."""
        return self.low_up if self.symmetric else np.minimum(self.low_up, self.low_down)

    @property
    def symmetric(self) -> bool:
        """Both bounds are one array (symmetric rules store it once)."""
        return self.low_down is self.low_up

    def take(self, idx: np.ndarray | slice) -> Pairs:
        """The pairs at `idx` (integer indices, a mask or a slice)."""
        up = self.low_up[idx]
        return Pairs(self.i[idx], self.k[idx], up, up if self.symmetric else self.low_down[idx],
                     {name: a[idx] for name, a in self.extra.items()})

    @staticmethod
    def join(parts: list[Pairs]) -> Pairs:
        """All pairs of `parts`, in order."""
        if len(parts) == 1:
            return parts[0]
        up = np.concatenate([p.low_up for p in parts])
        down = up if all(p.symmetric for p in parts) else np.concatenate(
            [p.low_down for p in parts])
        return Pairs(np.concatenate([p.i for p in parts]), np.concatenate([p.k for p in parts]),
                     up, down,
                     {name: np.concatenate([p.extra[name] for p in parts])
                      for name in parts[0].extra})


class Rule(Protocol):
    """A distance built on the Jaccard encoding, produced block by block."""

    absent_is_one: bool  # pairs with disjoint encodings: distance 1, never neighbours

    def pairs(self, block: Block, threshold: float) -> Pairs:
        """Pairs of the block whose lower bound may be ≤ threshold (all when infinite)."""

    def pairs_of(self, i: np.ndarray, k: np.ndarray) -> Pairs:
        """Arbitrary pairs i < k, ready for `exact` (their bounds are not used)."""

    def exact(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """Exact d[i, k] and d[k, i] of `pairs`."""

    def diagonal(self) -> np.ndarray:
        """d[i, i] for every i."""


def below(low: np.ndarray, threshold: float) -> np.ndarray:
    """Indices whose lower bound may be ≤ threshold (zeros always: the rho rule counts them)."""
    return np.flatnonzero(low <= max(threshold, _ZERO))


class JaccardRule:
    """The GCL/ICE k-reciprocal Jaccard distance (symmetric); disjoint encodings: 1."""

    absent_is_one = True

    def __init__(self, v: sp.csr_matrix):
        self.v = v

    def pairs(self, block: Block, threshold: float) -> Pairs:
        """Overlapping pairs whose Jaccard lower bound may be ≤ threshold."""
        i, k, bc = block.pairs(needed_overlap(max(threshold, _ZERO)))
        low = jaccard_floor(bc)
        keep = below(low, threshold)
        low = low[keep]
        return Pairs(i[keep], k[keep], low, low)

    def pairs_of(self, i: np.ndarray, k: np.ndarray) -> Pairs:
        """Any pairs: the Jaccard needs nothing but the encoding."""
        low = np.zeros(len(i))
        return Pairs(i, k, low, low)

    def exact(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """1 − m/(2 − m) from the exact overlap, the same both ways."""
        d = jaccard_of(exact_overlap(self.v, pairs.i, pairs.k))
        return d, d

    def diagonal(self) -> np.ndarray:
        """0: an encoding overlaps itself fully."""
        return np.zeros(self.v.shape[0])


class MixedRule(JaccardRule):
    """JVTC+ as mixed by train-joint: d = (1 − w)·Jaccard + w·joint on overlapping pairs only
    (`joint(rows, cols, cos) ≥ 0`); disjoint pairs stay at 1 and are never neighbours."""

    def __init__(self, v: sp.csr_matrix, x: np.ndarray, joint: PairDistance, weight: float):
        super().__init__(v)
        self.x, self.joint, self.weight = x, joint, weight

    def pairs(self, block: Block, threshold: float) -> Pairs:
        """Overlapping pairs whose (1 − w)·Jaccard lower bound may be ≤ threshold (joint ≥ 0)."""
        i, k, bc = block.pairs(needed_overlap(max(threshold, _ZERO) / (1 - self.weight)))
        low = (1 - self.weight) * jaccard_floor(bc)
        keep = below(low, threshold)
        low = low[keep]
        return Pairs(i[keep], k[keep], low, low)

    def exact(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """The mix both ways: joint(i, k) and joint(k, i) may differ (equal frame numbers)."""
        d = (1 - self.weight) * super().exact(pairs)[0]
        cos = _pair_dots(self.x, pairs.i, pairs.k)
        up = d + self.weight * np.asarray(self.joint(pairs.i, pairs.k, cos), dtype=np.float64)
        down = d + self.weight * np.asarray(self.joint(pairs.k, pairs.i, cos), dtype=np.float64)
        return up, down


class _Graph:
    """Directed entries (row, col, value) kept so far, in chunks."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0

    def add(self, pairs: Pairs, up: np.ndarray, down: np.ndarray, limit: float) -> None:
        """d[i, k] = up and d[k, i] = down where they are ≤ limit."""
        for rows, cols, vals in ((pairs.i, pairs.k, up), (pairs.k, pairs.i, down)):
            keep = vals <= limit
            self.parts.append((rows[keep], cols[keep], vals[keep]))
            self.size += int(keep.sum())

    def arrays(self, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All entries ≤ limit, as one set of arrays (which replaces the chunks)."""
        if not self.parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        rows, cols, vals = (np.concatenate(column) for column in zip(*self.parts, strict=True))
        keep = vals <= limit
        self.parts = [(rows[keep], cols[keep], vals[keep])]
        self.size = int(keep.sum())
        return self.parts[0]


class FixedEps:
    """DBSCAN with a fixed radius: every pair within eps, either way, verified as it comes."""

    def __init__(self, eps: float):
        self.eps = eps
        self.graph = _Graph()
        self.verified = 0

    def threshold(self) -> float:
        """Pairs above eps are never neighbours."""
        return self.eps

    def limit(self) -> float:
        """The same bound after the first pass."""
        return self.eps

    def add(self, pairs: Pairs, rule: Rule) -> None:
        """Verify the pairs whose bound is within eps; keep the entries that are."""
        chosen = pairs.take(pairs.low <= self.eps)
        up, down = rule.exact(chosen)
        self.verified += len(chosen)
        self.graph.add(chosen, up, down, self.eps)

    def seed(self, rank: np.ndarray, rule: Rule) -> None:
        """A fixed radius needs no early bound."""

    def resolve(self, rule: Rule) -> bool:
        """Nothing left to decide: no second pass."""
        return False

    def add_late(self, pairs: Pairs, rule: Rule) -> None:
        """Never called: `resolve` asks for no second pass."""
        raise AssertionError("a fixed eps needs one pass")

    def finish(self, n: int, absent_is_one: bool) -> float:
        """The radius, as given."""
        return self.eps


class RhoRule:
    """JVTC/GCL rule: eps = mean of the smallest round(rho·count) non-zero values of the strict
    upper triangle (count = pairs minus zero entries; absent pairs count as 1).

    `cap` = round(rho·N(N−1)/2) ≥ the final take. First pass: only lower bounds, keeping the
    `keep` (CANDIDATES·cap, at most POOL_PAIRS, at least 2·cap) pairs with the smallest ones
    (every pair with a bound below `floor` is kept). Then candidates are verified by increasing
    bound until the next bound exceeds `limit`, the cap-th smallest exact non-zero value so far
    (an upper bound of eps and of every value that can still be selected). Only if `limit` ends
    at or above `floor` do the blocks run again, for the pairs with a bound in [floor, limit].
    """

    def __init__(self, rho: float, n: int):
        if not 0 < rho <= 1:
            raise ConfigError(f"rho must be in (0, 1], got {rho}", fix="e.g. --rho 0.002")
        self.rho, self.total = rho, n * (n - 1) // 2
        self.cap = int(np.round(rho * self.total))
        if self.cap < 1:
            raise ConfigError(f"rho={rho} selects no pair among {self.total} (N={n})",
                              fix="use a larger --rho or a fixed --eps")
        self.keep = max(2 * self.cap, min(CANDIDATES * self.cap, POOL_PAIRS))
        self.n = n
        self.floor = self.ceiling = np.inf
        self.cache = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        self.candidates: list[Pairs] = []
        self.size = 0
        self.best = np.zeros(0)
        self.zeros = 0
        self.graph = _Graph()
        self.verified = 0

    def threshold(self) -> float:
        """Bounds above this cannot be kept (first pass)."""
        return min(self.floor, self.ceiling)

    def seed(self, rank: np.ndarray, rule: Rule) -> None:
        """Exact values of near-neighbour pairs, first: the cap-th smallest non-zero one bounds
        (`ceiling`) every value that can be selected before any block is seen. Kept for reuse."""
        q = min(rank.shape[1], int(np.ceil(SEED * self.cap / self.n)) + 1)
        rows = np.repeat(np.arange(self.n, dtype=np.int64), q)
        cols = rank[:, :q].ravel().astype(np.int64)
        keys = np.unique(np.minimum(rows, cols) * self.n + np.maximum(rows, cols))
        keys = keys[keys // self.n != keys % self.n]
        index = np.int32 if self.n < 2**31 else np.int64
        pairs = rule.pairs_of((keys // self.n).astype(index), (keys % self.n).astype(index))
        up, down = rule.exact(pairs)
        self.verified += len(pairs)
        self.cache = (keys, up, down)
        nonzero = up[up != 0]
        if len(nonzero) >= self.cap:
            self.ceiling = float(np.partition(nonzero, self.cap - 1)[self.cap - 1])

    def _exact(self, pairs: Pairs, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
        """Exact values, from the seed where it has them."""
        keys, cached_up, cached_down = self.cache
        wanted = pairs.i.astype(np.int64) * self.n + pairs.k
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        hit = keys[at] == wanted if len(keys) else np.zeros(len(wanted), dtype=bool)
        up, down = np.empty(len(pairs)), np.empty(len(pairs))
        up[hit], down[hit] = cached_up[at[hit]], cached_down[at[hit]]
        if not hit.all():
            miss = ~hit
            up[miss], down[miss] = rule.exact(pairs.take(miss))
            self.verified += int(miss.sum())
        return up, down

    def add(self, pairs: Pairs, rule: Rule) -> None:
        """First pass: keep the candidates below the floor and the ceiling, unverified."""
        limit = min(np.nextafter(self.floor, -np.inf), self.ceiling)
        fresh = pairs.take(below(pairs.low, limit))
        if len(fresh):
            self.candidates.append(fresh)
            self.size += len(fresh)
        if self.size > self.keep + self.keep // 2:
            self._shrink()

    def _shrink(self) -> None:
        """Keep the `keep` smallest bounds (and every zero bound); `floor` = smallest dropped.
        Filtered part by part, so no joined copy of all the candidates is ever made."""
        low = np.concatenate([part.low for part in self.candidates])
        self.floor = min(self.floor, float(np.partition(low, self.keep)[self.keep]))
        del low
        limit = np.nextafter(self.floor, -np.inf)
        for index, part in enumerate(self.candidates):
            self.candidates[index] = part.take(below(part.low, limit))
        self.candidates = [part for part in self.candidates if len(part)]
        self.size = sum(len(part) for part in self.candidates)

    def limit(self) -> float:
        """An upper bound of every value that can still be selected."""
        best = float(self.best[-1]) if len(self.best) >= self.cap else np.inf
        return min(best, self.ceiling)

    def _verify(self, pairs: Pairs, rule: Rule) -> None:
        """Exact values into the running smallest-cap buffer and the graph."""
        up, down = self._exact(pairs, rule)
        self.zeros += int((up == 0).sum())
        limit = self.limit()
        values = np.concatenate([self.best, up[(up != 0) & (up <= limit)]])
        if len(values) > self.cap:
            values = np.partition(values, self.cap - 1)[: self.cap]
        self.best = np.sort(values)
        self.graph.add(pairs, up, down, limit)
        if self.graph.size > 2 * self.keep:
            self.graph.arrays(self.limit())

    def resolve(self, rule: Rule) -> bool:
        """Verify the candidates by increasing bound; True when a second pass is needed."""
        if not self.candidates:
            return False
        pool = Pairs.join(self.candidates)
        self.candidates, self.size = [], 0
        low = pool.low
        order = np.argsort(low, kind="stable")
        low = low[order]
        step = max(STEP, self.cap // 4)
        start = 0
        while start < len(pool) and (low[start] <= self.limit() or low[start] <= _ZERO):
            self._verify(pool.take(order[start:start + step]), rule)
            start += step
        return self.limit() >= self.floor

    def add_late(self, pairs: Pairs, rule: Rule) -> None:
        """Second pass: the pairs the first one dropped (bound ≥ floor) that may still matter."""
        low = pairs.low
        chosen = pairs.take((low >= self.floor) & (low <= self.limit()) & (low > _ZERO))
        if len(chosen):
            self._verify(chosen, rule)

    def finish(self, n: int, absent_is_one: bool) -> float:
        """eps of the rule, as `rho_eps` computes it on the whole matrix."""
        count = self.total - self.zeros
        take = int(np.round(self.rho * count))
        if take < 1:
            raise ConfigError(f"rho={self.rho} selects no pair among {count} (N={n})",
                              fix="use a larger --rho or a fixed --eps")
        if take <= len(self.best):
            return float(self.best[:take].mean())
        if not absent_is_one:
            raise AssertionError("every pair has a value, the buffer cannot run short")
        return float((self.best.sum() + (take - len(self.best))) / take)


Selection = FixedEps | RhoRule


def selection(eps: float | None, rho: float | None, n: int) -> Selection:
    """The collector of one eps rule: exactly one of eps (fixed radius) or rho."""
    if (eps is None) == (rho is None):
        raise ConfigError("give exactly one of eps or rho", fix="e.g. --eps 0.55 or --rho 0.002")
    if eps is not None:
        if eps <= 0:
            raise ConfigError(f"eps must be positive, got {eps}")
        return FixedEps(float(eps))
    return RhoRule(float(rho), n)


@dataclass
class Clustering:
    """Labels (−1 = outlier), the eps used, the kept off-diagonal entries (row, col, distance:
    exactly those ≤ eps), how many pairs had their exact value computed, seconds per stage."""

    labels: np.ndarray
    eps: float
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    verified_pairs: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def kept_pairs(self) -> int:
        """Directed entries handed to DBSCAN besides the diagonal."""
        return len(self.values)


def cluster_rule(v: sp.csr_matrix, rule: Rule, chosen: Selection, min_samples: int,
                 rank: np.ndarray) -> Clustering:
    """Run `rule` block by block into `chosen` (near neighbours `rank` first), then DBSCAN on
    the kept neighbourhoods."""
    n = v.shape[0]
    clock = [time.perf_counter()]
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        clock.append(time.perf_counter())
        seconds[stage] = clock[-1] - clock[-2]

    chosen.seed(rank, rule)
    lap("seed")
    # A block's candidates are selected ahead, with the threshold of its submission; thresholds
    # only fall, so `add` and `add_late` filter again with the current one.
    for _, _, pairs in upper_blocks(v, rule.pairs, chosen.threshold):
        chosen.add(pairs, rule)
    lap("blocks")
    second = chosen.resolve(rule)
    lap("verify")
    if second:
        for _, _, pairs in upper_blocks(v, rule.pairs, chosen.limit):
            chosen.add_late(pairs, rule)
        lap("second pass")
    eps = chosen.finish(n, rule.absent_is_one)
    rows, cols, vals = chosen.graph.arrays(eps)
    labels = dbscan_graph(n, rows, cols, vals, rule.diagonal(), eps, min_samples)
    lap("dbscan")
    return Clustering(labels, eps, rows, cols, vals, chosen.verified, seconds)


def dbscan_graph(n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                 diagonal: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN on the entries ≤ eps of a directed distance; the diagonal is stored whatever its
    value (scikit-learn would otherwise count every point as its own neighbour)."""
    keep = vals <= eps
    own = np.arange(n)
    graph = sp.csr_matrix(
        (np.concatenate([vals[keep], diagonal]).astype(np.float64),
         (np.concatenate([rows[keep], own]), np.concatenate([cols[keep], own]))),
        shape=(n, n),
    )
    graph.sort_indices()
    model = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed", n_jobs=1)
    return model.fit_predict(graph).astype(np.int64)
