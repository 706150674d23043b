"""Training curves of a stage: `RUN/<stage>-metrics.jsonl` (one JSON object per epoch and per
logged step), `RUN/curves-<stage>.png` redrawn at every epoch end, and TensorBoard scalars under
`RUN/tensorboard/<stage>` when tensorboard is installed.

A resumed stage first drops the records at or after the position it resumes from, so every
epoch and step is in the file once. Nothing is written until the stage logs its first record (a
run refused at start-up leaves the files as they were), and only where `enabled` (DDP rank 0).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from reidkit.io import append_line, atomic_path, save_text

STEP_EVERY = 10  # a step record every N iterations (the epoch record averages all of them)
_AXES = ("epoch", "step", "iteration", "iterations")  # x values, not curves


def metrics_path(run: str | Path, stage: str) -> Path:
    """Where a stage's records go (beside its checkpoint)."""
    return Path(run) / f"{stage}-metrics.jsonl"


def curves_path(run: str | Path, stage: str) -> Path:
    """Where a stage's curves are drawn."""
    return Path(run) / f"curves-{stage}.png"


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The parseable records of a metrics file (a line cut short by a crash is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("epoch"), int):
            records.append(record)
    return records


def numeric(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The record's plottable numbers, nested dicts flattened as `outer/inner`."""
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numeric(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key not in _AXES:
            out[name] = float(value)
    return out


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars as Python numbers, NaN/inf as null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _kept(record: dict[str, Any], epoch: int, batch: int) -> bool:
    """Whether a record comes before the resume position (`epoch` done, `batch` steps after)."""
    if "step" in record:
        step = record["step"]
        return record["epoch"] <= epoch or (
            record["epoch"] == epoch + 1 and isinstance(step, int) and step <= batch
        )
    return record["epoch"] <= epoch


def draw_curves(records: list[dict[str, Any]], path: str | Path, title: str) -> None:
    """One small panel per metric over epochs, written atomically as a PNG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series: dict[str, tuple[list[int], list[float]]] = {}
    for record in records:
        for key, value in numeric(record).items():
            xs, ys = series.setdefault(key, ([], []))
            xs.append(record["epoch"])
            ys.append(value)
    cols = max(1, min(4, len(series)))
    rows = max(1, math.ceil(len(series) / cols))
    height = 2.3 * rows + 0.4
    fig = Figure(figsize=(3.2 * cols, height))  # a fixed layout: half the time of a solved one
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.5 / height, top=1 - 0.7 / height,
                        wspace=0.3, hspace=0.75)
    fig.suptitle(title)
    for index, (key, (xs, ys)) in enumerate(series.items()):
        axes = fig.add_subplot(rows, cols, index + 1)
        axes.plot(xs, ys, marker="o", markersize=3)
        axes.set_title(key, fontsize=9)
        axes.set_xlabel("epoch", fontsize=8)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.set_xlim(min(xs) - 0.5, max(xs) + 0.5)  # whole epochs, also for one point
        axes.tick_params(labelsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)


def _summary_writer(folder: Path, purge_step: int) -> Any:
    """A TensorBoard writer hiding the events at or after `purge_step`, or None without it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)


class MetricsLog:
    """A stage's curves, continuing from `epoch` epochs and `batch` further steps done (and
    `iteration` iterations in all, the TensorBoard axis of stages that count them)."""

    def __init__(self, run: str | Path, stage: str, *, epoch: int = 0, batch: int = 0,
                 iteration: int | None = None, enabled: bool = True) -> None:
        self.run, self.stage, self.enabled = Path(run), stage, enabled
        self.path = metrics_path(run, stage)
        self._position = (epoch, batch)
        self._purge = (iteration if iteration is not None else epoch) + 1
        self._epochs: list[dict[str, Any]] | None = None
        self._writer: Any = None
        # this epoch's throughput: from its first step (the loader's start-up left out) on
        self._since: float | None = None
        self._until = 0.0
        self._images = 0

    def _open(self) -> None:
        """Drop the records at or after the resume position (atomically), start TensorBoard."""
        kept = [r for r in read_records(self.path) if _kept(r, *self._position)]
        save_text("".join(json.dumps(r) + "\n" for r in kept), self.path)
        self._epochs = [r for r in kept if "step" not in r]
        self._writer = _summary_writer(self.run / "tensorboard" / self.stage, self._purge)

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        if self._epochs is None:
            self._open()
        record = _jsonable({"stage": self.stage, **record})
        append_line(json.dumps(record), self.path)
        return record

    def step(self, epoch: int, batch: int, values: dict[str, Any], *, images: int = 0,
             iteration: int | None = None) -> None:
        """Count an iteration (batch `batch` of 1-based `epoch`); every STEP_EVERY-th is kept."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._since is None:
            self._since = now
        else:
            self._images += images
        self._until = now
        count = iteration if iteration is not None else batch
        if count % STEP_EVERY:
            return
        extra = {"iteration": iteration} if iteration is not None else {}
        record = self._append({"epoch": epoch, "step": batch, **extra, **values})
        if self._writer is not None and iteration is not None:
            for key, value in numeric(record).items():
                self._writer.add_scalar(f"step/{key}", value, iteration)

    def epoch(self, record: dict[str, Any], *, iteration: int | None = None) -> None:
        """Append the epoch's record (its history entry), redraw the curves, flush TensorBoard."""
        if not self.enabled:
            return
        throughput = {}
        if "images_per_s" not in record and self._images and self._until > self._since:
            throughput["images_per_s"] = self._images / (self._until - self._since)
        self._since, self._images = None, 0
        written = self._append({**record, **throughput})
        self._epochs.append(written)
        draw_curves(self._epochs, curves_path(self.run, self.stage), self.stage)
        if self._writer is not None:
            x = iteration if iteration is not None else written["epoch"]
            for key, value in numeric(written).items():
                self._writer.add_scalar(f"epoch/{key}", value, x)
            self._writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer (the files are complete after every epoch anyway)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
