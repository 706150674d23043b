"""`reidkit mesh`: body parameters for every image (HMR, or given with --smpl-params), then 8 grey
renders each (the original view and the body turned about the vertical axis), in the layout the
reference implementation uses: `<out>/{train,test}/render[_<deg>]/<name>.jpg`.

Resumable: an image whose renders all exist (and whose parameters are known) is skipped; every
file is written to a temporary name and renamed, so an interrupted run never leaves a truncated
render. Unreadable inputs are skipped and listed in the result, never silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from reidkit import log
from reidkit.body.hmr import load_hmr, predict
from reidkit.body.model import faces_tensor, load_body_model, pose_body
from reidkit.body.params import FILE_NAME, BodyParams, load_body_params, save_body_params
from reidkit.body.rotation import DEFAULT_ANGLES, rotate_vertical
from reidkit.config import require
from reidkit.data.datasets import load_dataset
from reidkit.data.records import ImageRecord
from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.device import resolve_device
from reidkit.errors import ConfigError, WeightsError
from reidkit.io import save_image
from reidkit.render.shading import render_grey

MESH_SPLITS = {"train": ("train",), "test": ("query", "gallery")}
SAVE_EVERY = 20  # batches between parameter-file saves while HMR runs


@dataclass
class MeshConfig:
    """Settings of `reidkit mesh`."""

    dataset: str | None = None
    data_root: Path | None = None
    out: Path | None = None
    smpl_model: str | None = None
    hmr_checkpoint: Path | None = None
    smpl_mean_params: Path | None = None
    smpl_params: tuple[Path, ...] = ()
    splits: tuple[str, ...] = ("train", "test")
    size: tuple[int, int] = DEFAULT_SIZE
    angles: tuple[int, ...] = DEFAULT_ANGLES
    renderer: str = "torch"
    batch_size: int = 32
    overwrite: bool = False
    device: str = "auto"


def synth_mesh_config(data_root: Path, out: Path, **settings: Any) -> MeshConfig:
    """Renders of a `reidkit synth` dataset from the body parameters it wrote, with the shipped
    procedural body: no HMR and no SMPL file needed (the demo, its figure, the tests)."""
    return MeshConfig(dataset="market", data_root=data_root, out=out, smpl_model="procedural",
                      smpl_params=(Path(data_root) / FILE_NAME,), **settings)


def render_folders(angles: tuple[int, ...]) -> list[str]:
    """`render` (original view) then `render_<deg>` for each angle."""
    return ["render", *(f"render_{int(a)}" for a in angles)]


def _check(config: MeshConfig) -> None:
    require(config, dataset="--dataset market")
    if config.out is None:
        raise ConfigError("no output folder", fix="pass --out MESH_ROOT")
    if config.data_root is None:
        raise ConfigError("no dataset folder", fix="pass --data-root")
    if not config.smpl_model:
        raise WeightsError(
            "no body model given",
            fix="pass --smpl-model with SMPL_NEUTRAL.pkl (or its folder) from smpl.is.tue.mpg.de "
            "(registration, non-commercial licence), or --smpl-model procedural for the shipped "
            "stand-in body",
        )
    if not config.smpl_params and config.hmr_checkpoint is None:
        raise WeightsError(
            "no HMR checkpoint and no --smpl-params",
            fix="pass --hmr-checkpoint with SPIN's model_checkpoint.pt "
            "(http://visiondata.cis.upenn.edu/spin/model_checkpoint.pt), or body parameters "
            "with --smpl-params FILE",
        )
    unknown = sorted(set(config.splits) - set(MESH_SPLITS))
    if unknown or not config.splits:
        raise ConfigError(f"unknown splits {unknown or '(none)'}", fix="use --splits train,test")
    bad = [a for a in config.angles if not 0 < int(a) < 360]
    if bad:
        raise ConfigError(
            f"angles must be in 1..359 degrees, got {bad}", fix="e.g. --angles 90,180"
        )
    if config.batch_size < 1:
        raise ConfigError("--batch-size must be positive")


def _load_body(spec: str, device: torch.device) -> Any:
    try:
        return load_body_model(spec, device)
    except WeightsError as exc:
        if "--smpl-model" in str(exc):
            raise
        raise WeightsError(f"--smpl-model: {exc.what}", path=exc.path, fix=exc.fix) from exc


class ParamSource:
    """Where body parameters come from: given files, or HMR on the image crops."""

    def __init__(self, config: MeshConfig, device: torch.device):
        self.device = device
        self.given: BodyParams | None = None
        self.model = None
        if config.smpl_params:
            self.given = BodyParams.concat([load_body_params(p) for p in config.smpl_params])
            self.rows = self.given.index()
        else:
            self.model = load_hmr(Path(str(config.hmr_checkpoint)), config.smpl_mean_params, device)

    def has(self, key: str) -> bool:
        """Whether given parameters cover this image (always true with HMR)."""
        return self.given is None or key in self.rows

    def estimate(self, keys: list[str], records: list[ImageRecord]) -> tuple[BodyParams, list[str]]:
        """Parameters of the readable images among `records`; also the unreadable ones' paths."""
        if self.given is not None:
            return self.given.take([self.rows[k] for k in keys]), []
        images, ok_keys, bad = [], [], []
        for key, record in zip(keys, records, strict=True):
            image = read_image(record.path)
            if image is None:
                bad.append(str(record.path))
            else:
                images.append(image)
                ok_keys.append(key)
        if not images:
            return BodyParams.concat([]), bad
        out = predict(self.model, images, self.device)
        return BodyParams(ok_keys, out["betas"], out["pose"], out["camera"]), bad


def read_image(path: Path) -> Image.Image | None:
    """The decoded RGB image, or None when the file is missing, truncated or not an image."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


class SplitWriter:
    """Renders of one split plus its parameter file, merging with what a previous run left."""

    def __init__(self, root: Path, split: str, angles: tuple[int, ...], overwrite: bool):
        self.root, self.split, self.angles = root, split, angles
        self.folders = render_folders(angles)
        self.param_path = root / split / FILE_NAME
        self.params = BodyParams.concat([])
        if self.param_path.is_file():
            try:
                self.params = load_body_params(self.param_path, option="--out")
            except ConfigError as exc:
                if not overwrite:
                    raise ConfigError(
                        f"the parameter file of a previous run is unreadable: {exc.what}",
                        path=self.param_path,
                        fix="pass --overwrite to redo this split, or delete the file",
                    ) from exc
        self.known = set(self.params.names)
        self.pending: list[BodyParams] = []

    def done(self, record: ImageRecord) -> bool:
        """All renders exist and the parameters are stored."""
        key = f"{self.split}/{record.name}"
        return key in self.known and all(
            (self.root / self.split / folder / record.name).is_file() for folder in self.folders
        )

    def add(self, params: BodyParams, renders: np.ndarray) -> None:
        """Write renders [N, 1 + A, H, W] of the images in `params` and remember the parameters."""
        for i, key in enumerate(params.names):
            name = key.split("/", 1)[1]
            for folder, image in zip(self.folders, renders[i], strict=True):
                path = self.root / self.split / folder / name
                save_image(Image.fromarray(image), path, quality=95)
        self.pending.append(params)
        self.known.update(params.names)

    def save(self) -> None:
        """Merge new parameters into the split's file (sorted by name); no write if none are new."""
        if not self.pending:
            return
        new = BodyParams.concat(self.pending)
        replaced = set(new.names)
        keep = [i for i, n in enumerate(self.params.names) if n not in replaced]
        merged = BodyParams.concat([self.params.take(keep), new])
        self.params = merged.take(np.argsort(np.array(merged.names, dtype=str), kind="stable"))
        self.pending = []
        save_body_params(self.param_path, self.params)


def render_views(
    body: Any,
    faces: torch.Tensor,
    params: BodyParams,
    size: tuple[int, int],
    angles: tuple[int, ...],
    device: torch.device,
    renderer: str = "torch",
) -> np.ndarray:
    """Grey renders [N, 1 + A, H, W] uint8: the posed body, then turned by each angle."""
    pose = torch.from_numpy(params.pose).to(device)
    vertices = pose_body(body, pose, torch.from_numpy(params.betas).to(device)).vertices.float()
    turned = rotate_vertical(vertices, angles)  # [N, A, V, 3]
    views = torch.cat([vertices.unsqueeze(1), turned], dim=1).flatten(0, 1)
    cams = torch.from_numpy(params.camera).to(device).repeat_interleave(1 + len(angles), dim=0)
    grey = render_grey(views, faces, cams, size, renderer=renderer)
    return grey.view(len(params), 1 + len(angles), *size).cpu().numpy()


def run_mesh(config: MeshConfig) -> dict[str, Any]:
    """Estimate (or read) body parameters and write all renders; returns per-split counts."""
    _check(config)
    device = resolve_device(config.device)
    angles = tuple(int(a) for a in config.angles)
    source = ParamSource(config, device)
    body = _load_body(config.smpl_model, device)
    faces = faces_tensor(body)
    dataset = load_dataset(config.dataset, config.data_root)
    out = Path(config.out)
    result: dict[str, Any] = {"out": str(out), "angles": list(angles), "splits": {}}
    for split in config.splits:
        records = [r for part in MESH_SPLITS[split] for r in dataset.split(part)]
        writer = SplitWriter(out, split, angles, config.overwrite)
        result["splits"][split] = _run_split(
            config, source, body, faces, writer, records, angles, device
        )
    result["images"] = sum(s["images"] for s in result["splits"].values())
    result["rendered"] = sum(s["rendered"] for s in result["splits"].values())
    result["unreadable"] = [p for s in result["splits"].values() for p in s["unreadable"]]
    result["no_params"] = [p for s in result["splits"].values() for p in s["no_params"]]
    return result


def _run_split(
    config: MeshConfig,
    source: ParamSource,
    body: Any,
    faces: torch.Tensor,
    writer: SplitWriter,
    records: list[ImageRecord],
    angles: tuple[int, ...],
    device: torch.device,
) -> dict[str, Any]:
    split = writer.split
    no_params = [str(r.path) for r in records if not source.has(f"{split}/{r.name}")]
    todo = [
        r
        for r in records
        if source.has(f"{split}/{r.name}") and (config.overwrite or not writer.done(r))
    ]
    skipped = len(records) - len(todo) - len(no_params)
    unreadable: list[str] = []
    start = time.perf_counter()
    rendered = 0
    with log.task(f"mesh {split}", total=len(todo)) as progress:
        for b, first in enumerate(range(0, len(todo), config.batch_size)):
            batch = todo[first : first + config.batch_size]
            keys = [f"{split}/{r.name}" for r in batch]
            params, bad = source.estimate(keys, batch)
            unreadable += bad
            if len(params):
                renders = render_views(
                    body, faces, params, config.size, angles, device, config.renderer
                )
                writer.add(params, renders)
                rendered += len(params)
            if (b + 1) % SAVE_EVERY == 0:
                writer.save()
            progress.advance(len(batch), img_s=rendered / max(time.perf_counter() - start, 1e-9))
    writer.save()
    seconds = time.perf_counter() - start
    for path in unreadable:
        log.warn(f"unreadable image skipped: {path}")
    if no_params:
        log.warn(
            f"{len(no_params)} {split} images have no parameters in --smpl-params "
            f"(first: {no_params[0]})"
        )
    log.info(
        f"mesh {split}: {rendered} rendered, {skipped} already done, "
        f"{rendered / max(seconds, 1e-9):.1f} images/s"
    )
    return {
        "images": len(records),
        "rendered": rendered,
        "skipped": skipped,
        "unreadable": unreadable,
        "no_params": no_params,
        "seconds": seconds,
        "images_per_s": rendered / max(seconds, 1e-9),
        "params": str(writer.param_path),
    }
