"""An exported E_id (`reidkit export`) run through onnxruntime behind the interface of a torch
model, so that evaluation extracts and scores its features exactly as it does a checkpoint's."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit import log
from reidkit.errors import CheckpointError, ConfigError, MissingPackageError


def import_onnxruntime() -> Any:
    """onnxruntime, or a MissingPackageError saying how to install it."""
    try:
        return importlib.import_module("onnxruntime")
    except ImportError:
        raise MissingPackageError(
            "onnxruntime is not installed (needed to run an ONNX model)",
            fix="pip install onnxruntime (or onnxruntime-gpu), e.g. pip install -e '.[dev]'",
        ) from None


def _providers(ort: Any, device: torch.device) -> list[str]:
    available = ort.get_available_providers()
    if device.type == "cuda":
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warn("onnxruntime has no CUDA provider here (install onnxruntime-gpu): running on CPU")
    return ["CPUExecutionProvider"]


class OnnxEncoder(nn.Module):
    """Feeds image batches to an ONNX session; a model exported with a fixed batch size gets
    batches of exactly that size (the last one padded)."""

    def __init__(self, session: Any, path: Path):
        super().__init__()
        self.session, self.path = session, path
        (inp,), (out,) = session.get_inputs(), session.get_outputs()
        self.input_name, self.input_shape = inp.name, list(inp.shape)
        self.embed_dim = out.shape[1] if isinstance(out.shape[1], int) else None
        batch = self.input_shape[0]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """The (height, width) the model was exported at, when its input shape fixes it."""
        h, w = self.input_shape[2:]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: images})[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features [N, D] of a batch (float32, on the batch's device)."""
        batch = images.detach().to("cpu", torch.float32).numpy()
        step = self.fixed_batch or len(batch)
        outputs = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            pad = step - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            outputs.append(self._run(chunk)[: step - pad])
        return torch.from_numpy(np.concatenate(outputs)).to(images.device)


def load_onnx_encoder(path: str | Path,
                      device: torch.device) -> tuple[OnnxEncoder, dict[str, Any]]:
    """An ONNX identity encoder ready to evaluate, with info in the shape the checkpoint loader
    gives (format, arch, embed_dim, loaded, ignored)."""
    path = Path(path)
    ort = import_onnxruntime()
    if not path.is_file():
        raise CheckpointError("ONNX model file not found", path=path, fix="check the path")
    try:
        session = ort.InferenceSession(str(path), providers=_providers(ort, device))
    except Exception as exc:  # onnxruntime raises its own types for a bad file
        raise CheckpointError(
            f"not an ONNX model onnxruntime can load ({str(exc).splitlines()[0][:200]})",
            path=path,
            fix="pass a file written by `reidkit export` (or another image → feature ONNX model)",
        ) from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3
            or inputs[0].type != "tensor(float)" or len(outputs) < 1
            or len(outputs[0].shape) != 2):
        shapes = [(i.name, i.shape, i.type) for i in inputs]
        raise CheckpointError(
            f"the ONNX model is not an image → feature encoder (inputs {shapes})",
            path=path,
            fix="export E_id with `reidkit export`: one float input [batch, 3, H, W], "
            "one output [batch, D]",
        )
    model = OnnxEncoder(session, path)
    info = {"format": "onnx", "arch": "onnx", "embed_dim": model.embed_dim, "loaded": None,
            "ignored": [], "stage": None, "providers": session.get_providers()}
    return model, info


def onnx_size(model: OnnxEncoder, requested: tuple[int, int] | None,
              default: tuple[int, int]) -> tuple[int, int]:
    """The input size to evaluate at: the model's fixed size (a different --size is refused),
    else --size, else `default`."""
    fixed = model.fixed_size
    if fixed is not None and requested is not None and tuple(requested) != fixed:
        raise ConfigError(
            f"--size {requested[0]}x{requested[1]} does not match the ONNX model's input "
            f"{fixed[0]}x{fixed[1]}",
            path=model.path,
            fix=f"drop --size, or re-export with --size {requested[0]}x{requested[1]}",
        )
    return fixed or requested or default
