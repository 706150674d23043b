"""`reidkit generate`: novel views of each image at chosen angles (written in the mesh layout,
`<out>/<split>/nv_<deg>/<name>`), contact sheets, structure swaps and identity interpolation
(the paper's Fig. 7). No randomness: the same checkpoint and inputs give the same files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from reidkit import log
from reidkit.config import at_most_one, config_to_dict
from reidkit.data.datasets import load_dataset
from reidkit.data.mesh_pairs import ANGLES, MESH_SPLIT, MeshPairDataset
from reidkit.data.records import ImageRecord
from reidkit.device import resolve_device
from reidkit.errors import ConfigError, DatasetError
from reidkit.generate.images import grid, mesh_to_uint8, to_uint8
from reidkit.io import save_image, save_json
from reidkit.models.loading import load_generator
from reidkit.runs import Handoff

SPLITS = ("train", "query", "gallery", "test")


@dataclass
class GenerateConfig:
    """Options of `reidkit generate`; data options default to the checkpoint's."""

    checkpoint: Path | None = None
    dataset: str | None = None
    data_root: Path | None = None
    mesh_root: Path | None = None
    camera_regex: str | None = None
    size: tuple[int, int] | None = None
    split: str = "test"
    angles: tuple[int, ...] = ANGLES
    limit: int | None = None
    out: Path | None = None
    swap: tuple[str, str] | None = None
    interpolate: tuple[str, str] | None = None
    steps: int = 8
    batch_size: int = 16
    sheet_rows: int = 8
    device: str = "auto"


def _resolve(config: GenerateConfig, handoff: Handoff) -> GenerateConfig:
    """Data options and size not given: the checkpoint's hand-off."""
    values = {k: getattr(config, k) or getattr(handoff, k)
              for k in ("dataset", "data_root", "mesh_root", "camera_regex")}
    for key in ("data_root", "mesh_root"):
        values[key] = Path(values[key]) if values[key] is not None else None
    out = config.out or Path(config.checkpoint).parent / "generated"
    missing = [f"--{k.replace('_', '-')}" for k in ("dataset", "data_root", "mesh_root")
               if values[k] is None]
    if missing:
        raise ConfigError(f"the checkpoint does not name {', '.join(missing)}",
                          fix=f"pass {' and '.join(missing)}")
    return dataclasses.replace(config, **values, size=handoff.input_size(config.size),
                               out=Path(out))


def _check(config: GenerateConfig) -> None:
    if config.checkpoint is None:
        raise ConfigError("no checkpoint given", fix="pass --checkpoint runs/NAME/train-joint.pt")
    at_most_one(config, "swap", "interpolate", fix="pass one of them: they are separate figures")
    if config.split not in SPLITS:
        raise ConfigError(f"unknown split '{config.split}'",
                          fix=f"choose one of {', '.join(SPLITS)}")
    bad = [a for a in config.angles if a not in ANGLES]
    if bad or not config.angles:
        raise ConfigError(f"angles must be among {', '.join(map(str, ANGLES))} "
                          f"(got {bad or 'none'})")
    if config.steps < 2:
        raise ConfigError("--steps must be at least 2")
    if config.limit is not None and config.limit < 1:
        raise ConfigError("--limit must be at least 1")


def _records(config: GenerateConfig) -> list[ImageRecord]:
    dataset = load_dataset(config.dataset, config.data_root, camera_regex=config.camera_regex)
    if config.split == "test":
        return dataset.query + dataset.gallery
    return dataset.split(config.split)


def find_record(records: list[ImageRecord], key: str) -> int:
    """Index of the record named `key` (file name or path in the split), or `key` as an index."""
    for i, record in enumerate(records):
        if key in (record.name, Path(record.name).name, Path(record.name).stem):
            return i
    if key.isdigit() and int(key) < len(records):
        return int(key)
    raise DatasetError(f"no image '{key}' in this split ({len(records)} images)",
                       fix="pass a file name from the split, or an index")


class _Views:
    """The models on a device, answering the questions generate asks."""

    def __init__(self, models: dict[str, nn.Module], data: MeshPairDataset, device: torch.device):
        self.models, self.data, self.device = models, data, device
        for module in models.values():
            module.to(device)

    @torch.no_grad()
    def images(self, idx: list[int]) -> torch.Tensor:
        return torch.stack([self.data[i][0] for i in idx]).to(self.device)

    @torch.no_grad()
    def meshes(self, idx: list[int], angle: int) -> torch.Tensor:
        return torch.stack([self.data.mesh(i, angle) for i in idx]).to(self.device)

    @torch.no_grad()
    def f_id(self, x: torch.Tensor) -> torch.Tensor:
        return self.models["E_id"](x)[0]

    @torch.no_grad()
    def render(self, mesh: torch.Tensor, f_id: torch.Tensor) -> torch.Tensor:
        return self.models["G"](self.models["E_str"](mesh), f_id)


def _novel_views(config: GenerateConfig, views: _Views, records: list[ImageRecord]) -> dict:
    split_dir = config.out / MESH_SPLIT[config.split]
    sheets, rows, written = [], [], 0
    order = range(0, len(records), config.batch_size)
    with log.task("generating novel views", len(records)) as task:
        for start in order:
            idx = list(range(start, min(start + config.batch_size, len(records))))
            x = views.images(idx)
            f_id = views.f_id(x)
            cols = [to_uint8(x)]
            for angle in config.angles:
                pics = to_uint8(views.render(views.meshes(idx, angle), f_id))
                cols.append(pics)
                for k, i in enumerate(idx):
                    name = Path(records[i].name).with_suffix(".jpg")
                    save_image(Image.fromarray(pics[k]), split_dir / f"nv_{angle}" / name,
                               quality=95)
                    written += 1
            rows.extend([c[k] for c in cols] for k in range(len(idx)))
            while len(rows) >= config.sheet_rows or (rows and start == order[-1]):
                path = split_dir / "sheets" / f"sheet_{len(sheets):04d}.png"
                save_image(grid(rows[: config.sheet_rows]), path)
                sheets.append(str(path))
                rows = rows[config.sheet_rows :]
            task.advance(len(idx))
    return {"images": len(records), "written": written, "sheets": sheets,
            "folders": [str(split_dir / f"nv_{a}") for a in config.angles]}


def _swap(config: GenerateConfig, views: _Views, records: list[ImageRecord]) -> dict:
    a, b = (find_record(records, k) for k in config.swap)
    x = views.images([a, b])
    f_b = views.f_id(x)[1:]
    cols = [to_uint8(x[:1]), to_uint8(x[1:])]
    for angle in (0, *config.angles):
        mesh = views.meshes([a], angle)
        if angle == 0:
            cols.append(mesh_to_uint8(mesh))
        cols.append(to_uint8(views.render(mesh, f_b)))
    path = config.out / f"swap_{Path(records[a].name).stem}_{Path(records[b].name).stem}.png"
    save_image(grid([[c[0] for c in cols]]), path)
    return {"figure": str(path), "structure": records[a].name, "identity": records[b].name}


def _interpolate(config: GenerateConfig, views: _Views, records: list[ImageRecord]) -> dict:
    a, b = (find_record(records, k) for k in config.interpolate)
    x = views.images([a, b])
    f = views.f_id(x)
    t = torch.linspace(0, 1, config.steps, device=f.device)[:, None]
    codes = (1 - t) * f[:1] + t * f[1:]
    mesh = views.meshes([a], 0).expand(config.steps, -1, -1, -1)
    pics = to_uint8(views.render(mesh, codes))
    row = [to_uint8(x[:1])[0], *pics, to_uint8(x[1:])[0]]
    path = config.out / f"interpolate_{Path(records[a].name).stem}_{Path(records[b].name).stem}.png"
    save_image(grid([row]), path)
    return {"figure": str(path), "structure": records[a].name, "from": records[a].name,
            "to": records[b].name, "steps": config.steps}


def run_generate(config: GenerateConfig) -> dict[str, Any]:
    """Novel views (default), or one swap / interpolation figure; returns what was written."""
    _check(config)
    models, handoff = load_generator(Path(config.checkpoint))
    config = _resolve(config, handoff)
    records = _records(config)
    if not records:
        raise DatasetError(f"split '{config.split}' has no images", path=config.data_root)
    pair = config.swap or config.interpolate
    if pair:
        chosen = [records[find_record(records, k)] for k in pair]
    else:
        chosen = records[: config.limit] if config.limit else records
    data = MeshPairDataset(chosen, config.mesh_root, split=config.split, size=config.size,
                           angles=config.angles)
    views = _Views(models, data, resolve_device(config.device))
    if config.swap:
        result = {"mode": "swap", **_swap(config, views, chosen)}
    elif config.interpolate:
        result = {"mode": "interpolate", **_interpolate(config, views, chosen)}
    else:
        result = {"mode": "novel-views", **_novel_views(config, views, chosen)}
        save_json({"checkpoint": str(config.checkpoint), **config_to_dict(config), **result},
                  config.out / MESH_SPLIT[config.split] / "generate.json")
    return {"out": str(config.out), "checkpoint": str(config.checkpoint), **result}
