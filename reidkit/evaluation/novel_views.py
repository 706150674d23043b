"""Generated views as queries: does the generator keep the person when it turns the body?

Each query image is painted again at every rotation by G (its own f_id, its rotated mesh); those
images query the real gallery with the checkpoint's E_id under the usual protocol (same id and
camera excluded). Their mAP next to the real queries' says how much identity the novel views
carry: a generator that paints everyone alike falls to chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from reidkit.data.datasets import load_dataset
from reidkit.data.image_dataset import ImageDataset
from reidkit.data.mesh_pairs import ANGLES, MeshPairDataset
from reidkit.device import resolve_device
from reidkit.evaluation.engine import evaluate_features, scores_of
from reidkit.evaluation.features import extract_features
from reidkit.models.loading import load_generator


@torch.no_grad()
def generated_query_features(
    models: dict[str, torch.nn.Module], meshes: MeshPairDataset, angles: tuple[int, ...],
    device: torch.device, batch_size: int = 32,
) -> dict[int, torch.Tensor]:
    """Unit E_id features of every query painted at each angle: {angle: [Q, D]}."""
    E_id, E_str, G = (models[k].to(device).eval() for k in ("E_id", "E_str", "G"))
    loader = DataLoader(ImageDataset(meshes.records, meshes.image_tf), batch_size=batch_size)
    out: dict[int, list[torch.Tensor]] = {a: [] for a in angles}
    for x, index in loader:
        f_id = E_id(x.to(device))[0]
        for angle in angles:
            mesh = torch.stack([meshes.mesh(int(i), angle) for i in index]).to(device)
            out[angle].append(F.normalize(E_id(G(E_str(mesh), f_id))[1], dim=1).cpu())
    return {a: torch.cat(v) for a, v in out.items()}


def evaluate_generated_queries(
    checkpoint: str | Path, *, angles: tuple[int, ...] = ANGLES, device: str = "auto",
    batch_size: int = 32,
) -> dict[str, Any]:
    """Scores (fractions) of the real queries, of all generated queries, and per angle."""
    models, handoff = load_generator(Path(checkpoint))
    handoff = handoff.require(("dataset", "data_root", "mesh_root"), checkpoint,
                              fix="pass a gen-warmup or train-joint checkpoint of a reidkit run")
    size = handoff.input_size()
    dataset = load_dataset(handoff.dataset, handoff.data_root, camera_regex=handoff.camera_regex)
    dev = resolve_device(device)
    meshes = MeshPairDataset(dataset.query, handoff.mesh_root, split="query", size=size,
                             angles=angles)
    gallery = extract_features(models["E_id"], dataset.gallery, size=size, device=dev,
                               desc="gallery features")
    real = extract_features(models["E_id"], dataset.query, size=size, device=dev,
                            desc="query features")
    painted = generated_query_features(models, meshes, angles, dev, batch_size)

    def scores(queries: torch.Tensor, records: list) -> dict[str, float]:
        return scores_of(evaluate_features(queries, gallery, records, dataset.gallery, device=dev))

    every = torch.cat([painted[a] for a in angles])
    real_scores = scores(real, dataset.query)
    generated = scores(every, dataset.query * len(angles))
    return {
        "checkpoint": str(checkpoint),
        "real": real_scores,
        "generated": generated,
        "per_angle": {str(a): scores(painted[a], dataset.query) for a in angles},
        "ratio": generated["mAP"] / real_scores["mAP"] if real_scores["mAP"] > 0 else 0.0,
        "angles": list(angles),
    }
