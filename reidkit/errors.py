"""Typed user-facing errors: the CLI prints them as one message and exits with code 2."""

from __future__ import annotations

from pathlib import Path


class ReidkitError(Exception):
    """A problem the user can fix (bad input, missing file or weights), never a bug."""

    def __init__(self, what: str, *, path: str | Path | None = None, fix: str | None = None):
        self.what, self.path, self.fix = what, path, fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.what
        if self.path is not None:
            text += f" [{self.path}]"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class DatasetError(ReidkitError):
    """The dataset root, layout or file names are not what the reader expects."""


class CheckpointError(ReidkitError):
    """A checkpoint is missing, of the wrong stage or format, or loads nothing."""


class WeightsError(ReidkitError):
    """Pretrained weights or licensed model files (ImageNet, HMR, SMPL, Inception) are absent."""


class ConfigError(ReidkitError):
    """An option or config-file value is invalid."""


class OutputError(ReidkitError):
    """A result file cannot be written (full disk, read-only folder, no permission)."""


class MissingPackageError(ReidkitError):
    """An optional package a feature needs (onnx, onnxruntime...) is not installed."""
