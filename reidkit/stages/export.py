"""`reidkit export` as a library call: E_id from any checkpoint eval accepts → an ONNX file whose
one output is the L2-normalised retrieval feature (`IdentityEncoder.embed`), for deployment.

Uses torch's TorchScript-based exporter (it needs the `onnx` package); the file is written
atomically and, when onnxruntime is installed, checked against the PyTorch model.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.markup import escape
from torch import nn

from reidkit import log
from reidkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from reidkit.errors import ConfigError, MissingPackageError
from reidkit.io import atomic_path
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import load_identity_encoder

INPUT, OUTPUT = "images", "features"
MIN_OPSET = 9  # the first opset with every operator E_id needs (expand for the L2 norm)


@dataclass
class ExportConfig:
    """What `reidkit export` needs; `size=None` takes the checkpoint's training size."""

    checkpoint: Path | None = None
    out: Path = Path("model.onnx")
    size: tuple[int, int] | None = None
    dynamic_batch: bool = False
    opset: int = 17


class RetrievalFeature(nn.Module):
    """E_id reduced to what retrieval uses: images → L2-normalised feature."""

    def __init__(self, encoder: IdentityEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The unit-norm feature eval ranks by."""
        return self.encoder.embed(images)


def _check(config: ExportConfig) -> None:
    if config.checkpoint is None:
        raise ConfigError("no checkpoint given", fix="pass --checkpoint FILE")
    if config.opset < MIN_OPSET:
        raise ConfigError(f"--opset {config.opset} is too old for E_id",
                          fix=f"use --opset {MIN_OPSET} or newer (default 17)")
    if config.out.is_dir():
        raise ConfigError("--out is a folder", path=config.out, fix="pass a file, e.g. model.onnx")
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingPackageError(
            "the onnx package is not installed (torch's ONNX exporter needs it)",
            fix="pip install onnx, e.g. pip install -e '.[dev]'",
        ) from None


def _export(model: nn.Module, example: torch.Tensor, path: Path, config: ExportConfig) -> None:
    options: dict[str, Any] = {"dynamo": False} if "dynamo" in inspect.signature(
        torch.onnx.export).parameters else {}
    if config.dynamic_batch:
        options["dynamic_axes"] = {INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
            torch.onnx.export(model, (example,), str(path), input_names=[INPUT],
                              output_names=[OUTPUT], opset_version=config.opset,
                              do_constant_folding=True, **options)
    except RuntimeError as exc:  # the exporter's errors (OnnxExporterError) are RuntimeErrors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "opset" not in first.lower():
            raise
        raise ConfigError(f"torch cannot export at --opset {config.opset} ({first[:200]})",
                          fix="use the default --opset 17") from exc


def _compare(model: nn.Module, path: Path, example: torch.Tensor) -> dict[str, Any]:
    """Largest difference between onnxruntime's and PyTorch's features on random images."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {"skipped": "onnxruntime is not installed"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.randn(example.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(images).numpy()
    got = session.run(None, {INPUT: images.numpy()})[0]
    return {"onnxruntime": ort.__version__, "max_abs_diff": float(np.abs(got - expected).max())}


def run_export(config: ExportConfig) -> dict[str, Any]:
    """Write `config.out` from `config.checkpoint`'s E_id; returns what the file holds."""
    _check(config)
    encoder, info = load_identity_encoder(config.checkpoint)
    size = info["handoff"].input_size(config.size)
    model = RetrievalFeature(encoder).eval()
    log.info(escape(f"exporting {info['format']} E_id ({info['arch']}, {info['embed_dim']}-d) "
                    f"at {size[0]}x{size[1]}, opset {config.opset}"))
    example = torch.zeros(2 if config.dynamic_batch else 1, 3, *size)
    with atomic_path(config.out) as tmp:
        _export(model, example[:1], tmp, config)
        check = _compare(model, tmp, example)
    batch = "batch" if config.dynamic_batch else 1
    return {
        "onnx": str(config.out),
        "bytes": config.out.stat().st_size,
        "checkpoint": str(config.checkpoint),
        "checkpoint_format": info["format"],
        "arch": info["arch"],
        "input": {"name": INPUT, "shape": [batch, 3, *size], "dtype": "float32"},
        "output": {"name": OUTPUT, "shape": [batch, info["embed_dim"]], "norm": "L2 (unit)"},
        "preprocessing": {"color": "RGB", "resize": f"{size[0]}x{size[1]} bicubic",
                          "scale": "1/255", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "opset": config.opset,
        "dynamic_batch": config.dynamic_batch,
        "check": check,
    }
