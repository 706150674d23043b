"""Bounded-memory k-reciprocal Jaccard distances: the distance is produced in row blocks, and
`reidkit.cluster.collect` keeps only the pairs that can matter (within eps, or selectable by the
rho rule) and runs DBSCAN on them.

Every rule (the pure Jaccard of GCL/ICE, its JVTC+ temporal mix, JVTC's re-ranking in
`rerank_cluster`) gives each pair a cheap lower bound of its distance; a pair is verified (its
exact value computed) only when that bound is below the current threshold, and kept only when its
exact value is. The bound comes from the Bhattacharyya overlap BC_ik = Σ_j √(V_ij V_kj) ≥
m_ik = Σ_j min(V_ij, V_kj): one sparse product per row block (docs/clustering.md).
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import scipy.sparse as sp
import torch

from reidkit import log
from reidkit.cluster.jaccard import _ZERO, _pair_dots
from reidkit.device import resolve_device

BLOCK_PAIRS = 1 << 21  # pairs of one row block (rows × columns): bounds every per-block array
WORKERS = min(4, len(os.sched_getaffinity(0)))  # threads for block products and verification
PARALLEL_PAIRS = 1 << 14  # fewest pairs whose verification is split over WORKERS threads
GATHER = 1 << 20  # encoding entries looked up per verification chunk
DENSE_ELEMENTS = 1 << 20  # float64 scratch rows of V laid out densely during verification
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


def product_device() -> torch.device | None:
    """CUDA when present: the block products run there. None on CPU, where scipy's product is
    faster than torch's sparse kernels (docs/clustering.md)."""
    device = resolve_device("auto")
    return device if device.type == "cuda" else None


def on_device(m: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """`m` as a torch CSR tensor on `device` (int32 indices while they fit, as cuSPARSE likes)."""
    index = np.int32 if max(m.nnz, *m.shape) < 2**31 else np.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(index)), torch.from_numpy(m.indices.astype(index)),
            torch.from_numpy(m.data), size=m.shape, device=device, check_invariants=False)


def from_device(t: torch.Tensor) -> sp.csr_matrix:
    """A torch CSR tensor as a scipy CSR matrix on the host."""
    return sp.csr_matrix((t.values().cpu().numpy(), t.col_indices().cpu().numpy(),
                          t.crow_indices().cpu().numpy()), shape=tuple(t.shape))


class Products:
    """The row blocks' products √V[a:b]·(√V[origin:])ᵀ, by scipy on the host or by torch sparse
    on `device` (cuSPARSE on CUDA); the same stored entries and values either way."""

    def __init__(self, v: sp.csr_matrix, device: torch.device | None = None):
        self.root = sp.csr_matrix((np.sqrt(v.data), v.indices, v.indptr), shape=v.shape)
        self.device = device

    def tail(self, origin: int) -> sp.csr_matrix | torch.Tensor:
        """(√V[origin:])ᵀ, where the products run."""
        tail = self.root[origin:].T.tocsr()
        return tail if self.device is None else on_device(tail, self.device)

    def block(self, a: int, b: int, origin: int, tail: sp.csr_matrix | torch.Tensor) -> Block:
        """Rows [a, b) against `tail` = self.tail(origin)."""
        left = self.root[a:b]
        if self.device is None:
            return Block(a, b, origin, left @ tail)
        return Block(a, b, origin, from_device(on_device(left, self.device) @ tail))


def upper_blocks(v: sp.csr_matrix, select: Callable[[Block, float], T],
                 threshold: Callable[[], float],
                 device: torch.device | None = None) -> Iterator[tuple[int, int, T]]:
    """(a, b, select(block, t)) for every row block of BC_ik = Σ_j √(V_ij V_kj) ≥ m_ik over the
    pairs whose encodings share a column, in order. The sparse products (on `device` when given,
    see `Products`) and `select` (a rule's candidates; numpy and scipy release the GIL) run on
    WORKERS threads ahead of the consumer, so at most WORKERS + 2 blocks are held at once.
    t = threshold() when the block is submitted, in the consumer's thread, so the result does not
    depend on the threads' timing."""
    n = v.shape[0]
    products = Products(v, device)
    tail_origin, tail = -1, None
    pending: deque[tuple[int, int, Future[T]]] = deque()
    schedule = block_schedule(n)
    with ThreadPoolExecutor(WORKERS) as pool, log.task("jaccard blocks", total=n) as progress:
        for index, (a, b, origin) in enumerate(schedule):
            if origin != tail_origin:
                tail_origin, tail = origin, products.tail(origin)
            task = pool.submit(_selected, products, a, b, origin, tail, select, threshold())
            pending.append((a, b, task))
            while pending and (len(pending) > WORKERS or index == len(schedule) - 1):
                first, last, future = pending.popleft()
                yield first, last, future.result()
                progress.advance(last - first)


def _selected(products: Products, a: int, b: int, origin: int, tail: sp.csr_matrix | torch.Tensor,
              select: Callable[[Block, float], T], threshold: float) -> T:
    """One row block's product, passed through `select` (on a worker thread)."""
    return select(products.block(a, b, origin, tail), threshold)


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
