"""Batch samplers for warm-up, as lists of index batches drawn from a NumPy generator (so an epoch's
batches depend only on the generator's seed, which makes resuming exact).

- `random_batches`: plain shuffled batches.
- `identity_batches`: P×K batches over (pseudo) labels, outliers (−1) left out; with `cams` the
  K instances of an identity come from different cameras first (ICE's sampler).
"""

from __future__ import annotations

import numpy as np


def random_batches(
    n: int, batch_size: int, rng: np.random.Generator, *, num_batches: int | None = None
) -> list[np.ndarray]:
    """Shuffled full batches over range(n); repeated passes until `num_batches` when given."""
    if n < 1 or batch_size < 1:
        raise ValueError("random_batches needs n >= 1 and batch_size >= 1")
    batch_size = min(batch_size, n)
    batches: list[np.ndarray] = []
    while True:
        order = rng.permutation(n)
        batches += [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
        if num_batches is None or len(batches) >= num_batches:
            return batches[:num_batches] if num_batches is not None else batches


def _camera_interleave(
    indices: np.ndarray, cams: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Shuffle an identity's indices so consecutive ones cycle through its cameras."""
    indices = rng.permutation(indices)
    groups = [indices[cams[indices] == c] for c in rng.permutation(np.unique(cams[indices]))]
    longest = max(len(g) for g in groups)
    ordered = [g[r] for r in range(longest) for g in groups if r < len(g)]
    return np.asarray(ordered, dtype=np.int64)


def _identity_chunks(
    members: np.ndarray, k: int, rng: np.random.Generator, cams: np.ndarray | None
) -> list[np.ndarray]:
    """Split one identity's images into chunks of k (sampling with replacement below k)."""
    if len(members) < k:
        members = rng.choice(members, size=k, replace=True)
        if cams is not None:
            members = _camera_interleave(members, cams, rng)
        return [members]
    ordered = (
        _camera_interleave(members, cams, rng) if cams is not None else rng.permutation(members)
    )
    return [ordered[i : i + k] for i in range(0, len(ordered) - k + 1, k)]


def identity_batches(
    labels: np.ndarray,
    num_instances: int,
    batch_size: int,
    rng: np.random.Generator,
    *,
    cams: np.ndarray | None = None,
    num_batches: int | None = None,
) -> list[np.ndarray]:
    """P×K batches: P = batch_size // num_instances distinct labels, K = num_instances images each.

    Every label ≥ 0 with at least one image takes part; label −1 (outlier) never does. One pass
    uses each identity's images about once; passes repeat until `num_batches` when given.
    """
    labels = np.asarray(labels)
    k = num_instances
    p = batch_size // k
    if k < 1 or p < 1:
        raise ValueError(
            f"batch size {batch_size} cannot hold {num_instances} instances per identity"
        )
    ids = np.unique(labels[labels >= 0])
    if len(ids) < p:
        raise ValueError(
            f"{len(ids)} identities (clusters) are fewer than the {p} a P×K batch needs"
        )
    members = {int(i): np.flatnonzero(labels == i) for i in ids}
    batches: list[np.ndarray] = []
    while num_batches is None or len(batches) < num_batches:
        chunks = {i: _identity_chunks(m, k, rng, cams) for i, m in members.items()}
        available = [i for i in chunks if chunks[i]]
        while len(available) >= p:
            chosen = rng.choice(available, size=p, replace=False)
            batches.append(np.concatenate([chunks[int(i)].pop() for i in chosen]))
            available = [i for i in available if chunks[i]]
        if num_batches is None:
            break
    return batches[:num_batches] if num_batches is not None else batches
