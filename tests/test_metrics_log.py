"""The training-curve log: JSON lines, resume without duplicates, the PNG, TensorBoard scalars
(and silence without tensorboard), rank-0-only writing."""

from __future__ import annotations

import json
import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reidkit import metrics_log
from reidkit.metrics_log import MetricsLog, curves_path, metrics_path, numeric, read_records


def _strict(line: str) -> dict:
    """json.loads that refuses NaN / Infinity (not JSON)."""
    def refuse(name):
        raise ValueError(name)

    return json.loads(line, parse_constant=refuse)


def _run(run, epochs, start=0, batch=0, steps=2, **kw):
    """Log `steps` steps and one epoch record per epoch, from a resume position."""
    log = MetricsLog(run, "demo", epoch=start, batch=batch, iteration=start * steps + batch, **kw)
    for epoch in range(start, epochs):
        for b in range(batch + 1, steps + 1):
            log.step(epoch + 1, b, {"loss": 10.0 * epoch + b}, images=4,
                     iteration=epoch * steps + b)
        batch = 0
        log.epoch({"epoch": epoch + 1, "loss": 1.0 / (epoch + 1), "clusters": 3 + epoch,
                   "test": {"mAP": 0.1 * epoch}}, iteration=(epoch + 1) * steps)
    log.close()
    return metrics_path(run, "demo")


def _scalars(folder, tag):
    """(steps, values) of one TensorBoard tag, as TensorBoard shows them (purged events gone)."""
    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = events.Scalars(tag)
    return [e.step for e in scalars], [e.value for e in scalars]


@pytest.fixture
def every_step(monkeypatch):
    monkeypatch.setattr(metrics_log, "STEP_EVERY", 1)


def test_records_parse_and_hold_the_values(tmp_path, every_step):
    path = _run(tmp_path, epochs=2)
    lines = path.read_text().splitlines()
    records = [_strict(line) for line in lines]
    epochs = [r for r in records if "step" not in r]
    steps = [r for r in records if "step" in r]
    assert [(r["epoch"], r["loss"], r["clusters"]) for r in epochs] == [(1, 1.0, 3), (2, 0.5, 4)]
    assert epochs[1]["test"] == {"mAP": 0.1} and {r["stage"] for r in records} == {"demo"}
    assert [(r["epoch"], r["step"], r["iteration"], r["loss"]) for r in steps] == [
        (1, 1, 1, 1.0), (1, 2, 2, 2.0), (2, 1, 3, 11.0), (2, 2, 4, 12.0)]
    assert all(r["images_per_s"] > 0 for r in epochs)  # from the steps after the first


def test_steps_are_thinned_to_every_nth_iteration(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics_log, "STEP_EVERY", 3)
    records = read_records(_run(tmp_path, epochs=2, steps=4))
    assert [r["iteration"] for r in records if "step" in r] == [3, 6]
    assert [r["epoch"] for r in records if "step" not in r] == [1, 2]


def test_resume_drops_what_came_after_the_checkpoint(tmp_path, every_step):
    path = _run(tmp_path, epochs=3)  # as if epochs 2 and 3 were logged, then lost
    with open(path, "a") as handle:
        handle.write('{"stage": "demo", "epoch": 4, "lo')  # a line cut short by the crash
    _run(tmp_path, epochs=3, start=1)
    records = read_records(path)
    assert [r["epoch"] for r in records if "step" not in r] == [1, 2, 3]
    steps = [(r["epoch"], r["step"]) for r in records if "step" in r]
    assert steps == [(e, s) for e in (1, 2, 3) for s in (1, 2)]
    assert all(_strict(line) for line in path.read_text().splitlines())


def test_mid_epoch_resume_keeps_the_steps_before_it(tmp_path, every_step):
    path = _run(tmp_path, epochs=2, steps=3)
    _run(tmp_path, epochs=2, start=1, batch=2, steps=3)
    steps = [(r["epoch"], r["step"]) for r in read_records(path) if "step" in r]
    assert steps == [(e, s) for e in (1, 2) for s in (1, 2, 3)]


def test_fresh_start_replaces_an_old_run_but_only_once_it_logs(tmp_path):
    path = _run(tmp_path, epochs=3)
    before = path.read_text()
    MetricsLog(tmp_path, "demo").close()  # a run refused at start-up: nothing touched
    assert path.read_text() == before
    _run(tmp_path, epochs=1)
    assert [r["epoch"] for r in read_records(path)] == [1]


def test_curves_png_is_an_image_with_the_metrics_drawn(tmp_path):
    _run(tmp_path, epochs=2)
    png = curves_path(tmp_path, "demo")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert len(image.convert("L").getcolors(1 << 16)) > 2  # not a blank canvas
    assert not list(tmp_path.glob(".*.tmp*"))  # written through a temporary file


def test_tensorboard_scalars_once_per_epoch_after_resume(tmp_path, every_step):
    _run(tmp_path, epochs=3)
    _run(tmp_path, epochs=3, start=1)  # re-logs epochs 2, 3: the old ones are purged
    folder = tmp_path / "tensorboard" / "demo"
    records = [r for r in read_records(metrics_path(tmp_path, "demo")) if "step" not in r]
    steps, values = _scalars(folder, "epoch/loss")
    assert steps == [2 * r["epoch"] for r in records]  # the x axis: iterations at epoch end
    assert values == pytest.approx([r["loss"] for r in records])
    assert _scalars(folder, "epoch/test/mAP")[1] == pytest.approx([0.0, 0.1, 0.2])
    assert _scalars(folder, "step/loss")[0] == [1, 2, 3, 4, 5, 6]


def test_without_tensorboard_nothing_happens(tmp_path, monkeypatch, capsys, recwarn):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    _run(tmp_path, epochs=2)
    assert not (tmp_path / "tensorboard").exists()
    assert [r["epoch"] for r in read_records(metrics_path(tmp_path, "demo"))] == [1, 2]
    assert capsys.readouterr().err == "" and len(recwarn) == 0


def test_only_the_enabled_rank_writes(tmp_path, every_step):
    _run(tmp_path, epochs=2, enabled=False)
    assert list(tmp_path.iterdir()) == []


def test_values_become_strict_json(tmp_path):
    log = MetricsLog(tmp_path, "demo")
    log.epoch({"epoch": 1, "loss": float("nan"), "n": np.int64(7), "lr": np.float32(0.5),
               "phase": "ice", "temporal": True, "lr_gan": None})
    log.close()
    (line,) = metrics_path(tmp_path, "demo").read_text().splitlines()
    record = _strict(line)
    assert record == {"stage": "demo", "epoch": 1, "loss": None, "n": 7, "lr": 0.5,
                      "phase": "ice", "temporal": True, "lr_gan": None}
    assert numeric(record) == {"n": 7.0, "lr": 0.5}  # no axis, text, flag or missing value


def test_a_given_throughput_is_kept(tmp_path):
    log = MetricsLog(tmp_path, "demo")
    for b in (1, 2, 3):
        log.step(1, b, {"loss": 1.0}, images=8)
    log.epoch({"epoch": 1, "images_per_s": 123.0})
    log.close()
    (record,) = read_records(metrics_path(tmp_path, "demo"))
    assert record["images_per_s"] == 123.0 and math.isfinite(record["images_per_s"])


def test_throughput_counts_from_the_first_step(tmp_path, monkeypatch):
    clock = iter([10.0, 11.0, 13.0])
    monkeypatch.setattr(metrics_log, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    log = MetricsLog(tmp_path, "demo")
    for b in (1, 2, 3):
        log.step(1, b, {"loss": 1.0}, images=6)
    log.epoch({"epoch": 1})
    log.close()
    (record,) = read_records(metrics_path(tmp_path, "demo"))
    assert record["images_per_s"] == 12 / 3.0  # batches 2 and 3, over the 3 s since batch 1
