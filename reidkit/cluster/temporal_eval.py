"""JVTC+ evaluation protocol: a temporal model fitted on the training split's pseudo labels, used
as `evaluate_model`'s query × gallery distance (the joint visual-temporal distance)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from reidkit import log
from reidkit.cluster.labels import cluster_jaccard, default_rho
from reidkit.cluster.temporal import (
    TemporalModel,
    build_timeline,
    market_offsets,
    timeline_kind,
)
from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.errors import DatasetError
from reidkit.evaluation.features import extract_features


class TemporalDistance:
    """`DistanceFn` of the evaluation engine: joint distance from features and records' times."""

    def __init__(
        self, model: TemporalModel, kind: str, largest: dict[tuple[int, int], float] | None
    ):
        self.model, self.kind, self.largest = model, kind, largest

    def __call__(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        a_records: Sequence[ImageRecord],
        b_records: Sequence[ImageRecord],
    ) -> torch.Tensor:
        """1 − σ(5·cos) · 1/(1 + 2e^{−5p}) for every (a, b) pair."""
        ta = build_timeline(a_records, self.kind, self.largest)
        tb = build_timeline(b_records, self.kind, self.largest)
        dist = self.model.distance_matrix(
            a.float().cpu().numpy(), b.float().cpu().numpy(), ta, tb
        )
        return torch.from_numpy(dist).to(a.device)


def fit_temporal_distance(
    model: nn.Module,
    dataset: ReidDataset,
    *,
    size: tuple[int, int],
    device: torch.device,
    batch_size: int = 64,
    rho: float | None = None,
) -> tuple[TemporalDistance, dict[str, Any]]:
    """Cluster the training split with `model` (k1 30, k2 6, rho rule, min_samples 4), fit the
    temporal model on those pseudo labels; never reads the training ids."""
    kind = timeline_kind(dataset.name)
    if not dataset.train:
        raise DatasetError(
            "the temporal model is fitted on the training split, which is empty",
            path=dataset.root,
            fix="point --data-root at the full dataset (train, query, gallery)",
        )
    largest = market_offsets(dataset.train) if kind == "sequence" else None
    timeline = build_timeline(dataset.train, kind, largest)
    features = extract_features(
        model, dataset.train, size=size, batch_size=batch_size, device=device,
        amp=device.type == "cuda", desc="train features (temporal model)",
    )
    rho = rho if rho is not None else default_rho(dataset.name)
    found = cluster_jaccard(features, rho=rho)
    labels, eps = found.labels, found.eps
    cams = 1 + max(r.camid for split in ("train", "query", "gallery")
                   for r in dataset.split(split))
    temporal = TemporalModel.fit(timeline, labels, cams=cams)
    clusters = int(labels.max()) + 1 if (labels >= 0).any() else 0
    log.info(f"temporal model fitted on {clusters} training pseudo identities (eps {eps:.4f})")
    info = {"fitted_on": "train pseudo labels", "clusters": clusters, "rho": rho, "eps": eps}
    return TemporalDistance(temporal, kind, largest), info
