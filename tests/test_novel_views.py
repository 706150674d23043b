"""Generated views as queries: every query is painted at every angle from its own f_id and its own
rotated mesh, and the features land under the right angle and row."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torchvision import transforms as T

from reidkit.data.records import ImageRecord
from reidkit.evaluation.novel_views import generated_query_features


class Encoder(nn.Module):
    """E_id stand-in: f_id is the image itself, the retrieval feature its flattened pixels."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x.flatten(1)


class Generator(nn.Module):
    """G stand-in: the painted image is the structure code plus the identity image."""

    def forward(self, structure: torch.Tensor, f_id: torch.Tensor) -> torch.Tensor:
        return structure + f_id


def _records(tmp_path, count: int) -> list[ImageRecord]:
    records = []
    for i in range(count):
        path = tmp_path / f"{i:04d}_c1s1_000000_00.jpg"
        Image.fromarray(np.full((4, 2, 3), 40 * i, dtype=np.uint8)).save(path, quality=100)
        records.append(ImageRecord(path=path, name=path.name, pid=i, camid=0, split="query"))
    return records


def test_each_query_is_painted_at_each_angle_from_its_own_mesh_and_identity(tmp_path) -> None:
    records = _records(tmp_path, 5)
    angles = (45, 90, 180)

    def mesh(index: int, angle: int) -> torch.Tensor:
        return torch.full((3, 4, 2), float(index * 1000 + angle))

    meshes = SimpleNamespace(records=records, image_tf=T.ToTensor(), mesh=mesh)
    models = {"E_id": Encoder(), "E_str": nn.Identity(), "G": Generator()}
    out = generated_query_features(models, meshes, angles, torch.device("cpu"), batch_size=2)

    assert set(out) == set(angles)
    for angle in angles:
        assert out[angle].shape == (5, 24)
        for i, record in enumerate(records):
            image = T.ToTensor()(Image.open(record.path).convert("RGB"))
            expected = F.normalize((mesh(i, angle) + image).flatten()[None], dim=1)[0]
            torch.testing.assert_close(out[angle][i], expected)
