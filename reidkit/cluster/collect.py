"""From the blocks' candidates to labels: the collectors of the two eps rules (a fixed radius, or
JVTC/GCL's rho rule over the smallest fraction of all pairs), the directed graph they keep, and
DBSCAN on it. `cluster_rule` drives a `Rule` of `reidkit.cluster.bounded` through them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import DBSCAN

from reidkit.cluster import bounded
from reidkit.cluster.bounded import Pairs, Rule, below
from reidkit.cluster.jaccard import _ZERO
from reidkit.errors import ConfigError

CANDIDATES = 6  # rho rule: candidates kept by the first pass, in multiples of the selected count
POOL_PAIRS = 1 << 25  # ... but no more than this many unless the selected count needs them
STEP = 1024  # rho rule: fewest candidates verified at a time
SEED = 3  # rho rule: near-neighbour pairs verified first, in multiples of the selected count


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

    device = bounded.product_device()
    chosen.seed(rank, rule)
    lap("seed")
    # A block's candidates are selected ahead, with the threshold of its submission; thresholds
    # only fall, so `add` and `add_late` filter again with the current one.
    for _, _, pairs in bounded.upper_blocks(v, rule.pairs, chosen.threshold, device):
        chosen.add(pairs, rule)
    lap("blocks")
    second = chosen.resolve(rule)
    lap("verify")
    if second:
        for _, _, pairs in bounded.upper_blocks(v, rule.pairs, chosen.limit, device):
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
