"""Per-query ranked lists under the evaluation protocol: which gallery items a query sees in
what order, which of them are junk (same pid and camera, or pid −1: removed by the protocol and
given no rank), and each query's AP, for looking at results rather than averaging them.

The order and AP follow `reidkit.evaluation.rank`: distance ascending, a correct match before a
non-match at the same distance, AP non-interpolated over the non-junk items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reidkit.data.records import ImageRecord
from reidkit.evaluation.rank import JUNK_PID


@dataclass(frozen=True)
class RankedItem:
    """One gallery item of a ranked list; `rank` is None for junk (it does not count)."""

    gallery_index: int
    distance: float
    match: bool
    junk: bool
    rank: int | None


@dataclass(frozen=True)
class RankedList:
    """A query's first `top` ranked gallery items, with the junk met before the last of them."""

    query_index: int
    ap: float
    num_matches: int
    items: list[RankedItem]
    junk_hidden: int


def _labels(records: Sequence[ImageRecord]) -> tuple[torch.Tensor, torch.Tensor]:
    pids = torch.tensor([r.pid for r in records], dtype=torch.int64)
    cams = torch.tensor([r.camid for r in records], dtype=torch.int64)
    return pids, cams


def _masks(qp: torch.Tensor, qc: torch.Tensor, gp: torch.Tensor,
           gc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[Q, G] correct matches (same pid, other camera) and junk (same pid and camera, or −1)."""
    same_pid = (gp[None, :] == qp[:, None]) & (qp[:, None] != JUNK_PID)
    same_cam = gc[None, :] == qc[:, None]
    junk = (same_pid & same_cam) | (gp[None, :] == JUNK_PID)
    return same_pid & ~same_cam, junk


def _protocol_order(dist: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    """Gallery indices per row by distance, a match before a non-match at equal distance."""
    order = torch.argsort((~match).to(torch.int8), dim=1, stable=True)
    return order.gather(1, torch.argsort(dist.gather(1, order), dim=1, stable=True))


def query_average_precision(
    distmat: torch.Tensor, query: Sequence[ImageRecord], gallery: Sequence[ImageRecord],
    *, block: int = 256,
) -> np.ndarray:
    """AP of every query (NaN for a query without a correct match), in blocks of rows."""
    qp, qc = _labels(query)
    gp, gc = _labels(gallery)
    out = np.full(len(query), np.nan)
    for start in range(0, len(query), block):
        rows = slice(start, start + block)
        match, junk = _masks(qp[rows], qc[rows], gp, gc)
        order = _protocol_order(distmat[rows].detach().to("cpu", torch.float64), match)
        hit = match.gather(1, order)
        kept = ~junk.gather(1, order)
        position = torch.cumsum(kept, 1).to(torch.float64)  # rank among non-junk items
        found = torch.cumsum(hit, 1).to(torch.float64)
        precision = torch.where(hit, found / position.clamp(min=1), 0.0).sum(1)
        num = match.sum(1)
        ap = precision / num.clamp(min=1)
        out[rows] = torch.where(num > 0, ap, float("nan")).numpy()
    return out


def ranked_list(
    distmat: torch.Tensor, query: Sequence[ImageRecord], gallery: Sequence[ImageRecord],
    index: int, *, top: int = 10, max_junk: int = 10,
) -> RankedList:
    """Query `index`'s first `top` ranked items plus the junk (up to `max_junk`) among them."""
    qp, qc = _labels(query[index:index + 1])
    gp, gc = _labels(gallery)
    dist = distmat[index:index + 1].detach().to("cpu", torch.float64)
    match, junk = _masks(qp, qc, gp, gc)
    order = _protocol_order(dist, match)[0].tolist()
    items: list[RankedItem] = []
    rank = shown_junk = hidden = 0
    for g in order:
        if rank == top:
            break
        if bool(junk[0, g]):
            if shown_junk == max_junk:
                hidden += 1
            else:
                shown_junk += 1
                items.append(RankedItem(g, float(dist[0, g]), False, True, None))
            continue
        rank += 1
        items.append(RankedItem(g, float(dist[0, g]), bool(match[0, g]), False, rank))
    ap = float(query_average_precision(distmat[index:index + 1], query[index:index + 1],
                                       gallery)[0])
    return RankedList(index, ap, int(match.sum()), items, hidden)


def pick_queries(query: Sequence[ImageRecord], ap: np.ndarray, count: int, *, seed: int = 0,
                 worst: bool = False) -> list[int]:
    """`count` queries with a correct match: the lowest AP first (`worst`), else a seeded draw
    taking one query per camera in turn, so that every camera is shown."""
    valid = [i for i in range(len(query)) if not np.isnan(ap[i])]
    if worst:
        return sorted(valid, key=lambda i: (ap[i], i))[:count]
    rng = np.random.default_rng(seed)
    by_camera: dict[int, list[int]] = {}
    for i in valid:
        by_camera.setdefault(query[i].camid, []).append(i)
    queues = [list(rng.permutation(by_camera[cam])) for cam in sorted(by_camera)]
    picked: list[int] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(int(queue.pop(0)))
    return picked
