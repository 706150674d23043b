"""Who is who in an image folder, for intra-class SSIM pairs and the Real row's identity split."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from reidkit.errors import ConfigError

# Market-1501 / DukeMTMC-reID (`0002_c1s1_000451_03.jpg`, `0001_c2_f0046182.jpg`); the folders
# `reidkit generate` writes keep these names (`<split>/nv_<deg>/<name>.jpg`).
MARKET_DUKE = re.compile(r"^(\d+)_c\d")
# MSMT17 (`0000_000_01_0303morning_0008_0.jpg`).
MSMT = re.compile(r"^(\d+)_\d+_\d+_")


def compile_id_regex(text: str | None) -> re.Pattern[str] | None:
    """Check a user `--id-regex`: valid and exactly one capture group (the identity)."""
    if text is None:
        return None
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ConfigError(f"--id-regex '{text}' is not a valid regular expression: {exc}") from exc
    if pattern.groups != 1:
        raise ConfigError(
            f"--id-regex '{text}' has {pattern.groups} groups",
            fix=r"use exactly one group around the identity, e.g. '^(\d+)_'",
        )
    return pattern


def identity_of(rel_path: str, pattern: re.Pattern[str] | None = None) -> str | None:
    """The identity in a file's path relative to its folder, or None when the naming has none.

    A user pattern is searched in the file name, or in the whole relative path (posix `/`) when
    the pattern itself contains a `/`. Without one: Market/Duke names, then MSMT17 names.
    """
    name = rel_path.rsplit("/", 1)[-1]
    if pattern is not None:
        match = pattern.search(rel_path if "/" in pattern.pattern else name)
        return match.group(1) if match else None
    for rule in (MARKET_DUKE, MSMT):
        match = rule.match(name)
        if match:
            return match.group(1)
    return None


def group_by_identity(
    rel_paths: Sequence[str], pattern: re.Pattern[str] | None = None
) -> tuple[dict[str, list[int]], list[int]]:
    """Indices of the files of each identity, and the indices whose name gave no identity."""
    groups: dict[str, list[int]] = {}
    unparsed: list[int] = []
    for index, rel in enumerate(rel_paths):
        pid = identity_of(rel, pattern)
        if pid is None:
            unparsed.append(index)
        else:
            groups.setdefault(pid, []).append(index)
    return groups, unparsed


def intra_class_pairs(groups: dict[str, list[int]], per_id: int, seed: int) -> np.ndarray:
    """(P, 2) index pairs of the same identity: all of them (per_id <= 0) or at most `per_id` per
    identity drawn without replacement, seeded per identity (independent of the others)."""
    chunks = []
    for pid in sorted(groups):
        members = np.asarray(groups[pid], dtype=np.int64)
        first, second = np.triu_indices(len(members), k=1)
        if per_id > 0 and len(first) > per_id:
            rng = np.random.default_rng([seed, zlib.crc32(pid.encode())])
            keep = np.sort(rng.choice(len(first), size=per_id, replace=False))
            first, second = first[keep], second[keep]
        chunks.append(np.stack([members[first], members[second]], axis=1))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.int64)


def split_identities(groups: dict[str, list[int]], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Image indices of two disjoint identity halves (seeded shuffle of the sorted identities,
    first floor(n/2) identities in A, the rest in B): the Real row's real-vs-real sets."""
    if len(groups) < 2:
        raise ConfigError(
            f"the Real row needs at least 2 identities in the real folder, found {len(groups)}",
            fix="use a folder with more identities, or pass --id-regex",
        )
    ids = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(ids))
    half = len(ids) // 2
    part_a = sorted(i for k in order[:half] for i in groups[ids[k]])
    part_b = sorted(i for k in order[half:] for i in groups[ids[k]])
    return np.asarray(part_a, dtype=np.int64), np.asarray(part_b, dtype=np.int64)
