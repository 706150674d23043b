"""Evaluate a model on a dataset's query/gallery: features → distance → CMC/mAP/mINP (+ re-ranked).

The distance is one replaceable function (`DistanceFn`): the visual default is squared Euclidean
on L2-normalised features; a temporal variant (JVTC+ joint similarity) passes its own, which
sees the records (camera, frame) of both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from reidkit import log
from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.device import resolve_device
from reidkit.errors import DatasetError
from reidkit.evaluation.features import extract_features
from reidkit.evaluation.rank import evaluate_rank
from reidkit.evaluation.rerank import re_ranking_distance

SCORE_KEYS = ("mAP", "rank1", "rank5", "rank10", "mINP")  # the retrieval scores, in table order


def scores_of(result: dict[str, Any]) -> dict[str, float]:
    """The retrieval scores of an evaluation result (fractions), without its other fields."""
    return {k: float(result[k]) for k in SCORE_KEYS}

DistanceFn = Callable[
    [torch.Tensor, torch.Tensor, Sequence[ImageRecord], Sequence[ImageRecord]], torch.Tensor
]


def visual_distance(
    a: torch.Tensor, b: torch.Tensor, a_records: Sequence[ImageRecord] = (),
    b_records: Sequence[ImageRecord] = (),
) -> torch.Tensor:
    """Squared Euclidean distance of unit features, 2 − 2·cos (ranks as cosine does)."""
    return (2 - 2 * a @ b.T).clamp_(min=0)


def score(distmat: torch.Tensor, query: Sequence[ImageRecord],
          gallery: Sequence[ImageRecord]) -> dict[str, Any]:
    """CMC/mAP/mINP of a query × gallery distance as a plain dict (fractions)."""
    result = evaluate_rank(
        distmat,
        [r.pid for r in query], [r.pid for r in gallery],
        [r.camid for r in query], [r.camid for r in gallery],
    )
    return {**result.as_dict(), "cmc": [float(v) for v in result.cmc]}


def evaluate_features(
    query_features: torch.Tensor,
    gallery_features: torch.Tensor,
    query: Sequence[ImageRecord],
    gallery: Sequence[ImageRecord],
    *,
    device: str | torch.device = "cpu",
    rerank: bool = False,
    distance: DistanceFn | None = None,
) -> dict[str, Any]:
    """Scores from features; with `rerank`, a `rerank` entry holds the re-ranked scores."""
    device = resolve_device(device) if isinstance(device, str) else device
    qf, gf = query_features.to(device), gallery_features.to(device)
    measure = distance or visual_distance
    results = score(measure(qf, gf, query, gallery), query, gallery)
    if rerank:
        log.info("re-ranking (k1=20, k2=6, lambda=0.3)")
        reranked = re_ranking_distance(measure, qf, gf, list(query), list(gallery))
        results["rerank"] = score(reranked, query, gallery)
    return results


def evaluate_model(
    model: nn.Module,
    dataset: ReidDataset,
    *,
    size: tuple[int, int],
    device: str | torch.device,
    batch_size: int = 64,
    flip: bool = False,
    rerank: bool = False,
    distance: DistanceFn | None = None,
) -> dict[str, Any]:
    """Extract query and gallery features with `model` and score them (fractions in [0, 1])."""
    device = resolve_device(device) if isinstance(device, str) else device
    if not dataset.query or not dataset.gallery:
        raise DatasetError(
            f"dataset '{dataset.name}' has no query/gallery split to evaluate",
            path=dataset.root,
            fix="evaluation needs query and gallery images (see docs/datasets.md)",
        )
    common = {"size": size, "batch_size": batch_size, "device": device, "flip": flip,
              "amp": device.type == "cuda"}
    qf = extract_features(model, dataset.query, desc="query features", **common)
    gf = extract_features(model, dataset.gallery, desc="gallery features", **common)
    results = evaluate_features(qf, gf, dataset.query, dataset.gallery, device=device,
                                rerank=rerank, distance=distance)
    results.update(num_query=len(dataset.query), num_gallery=len(dataset.gallery),
                   feature_dim=int(qf.shape[1]), flip=flip, size=list(size))
    return results
