"""`reidkit warmup` end to end on a tiny Market-layout dataset: every baseline trains, writes a
loadable checkpoint, refuses accidental overwrites and resumes exactly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import (
    TINY_WARMUP,
    assert_same_models,
    interrupted_at,
    make_two_colour_market,
    resumed_warmup,
)
from PIL import Image
from typer.testing import CliRunner

from reidkit import metrics_log
from reidkit.cluster import one_camera_share
from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.errors import ConfigError
from reidkit.models.loading import load_identity_encoder
from reidkit.runs import load_stage, read_handoff, read_manifest
from reidkit.stages import warmup as engine
from reidkit.stages.warmup import run_warmup, warmup_config

runner = CliRunner()
SMALL = TINY_WARMUP


@pytest.fixture(scope="module")
def tiny_market(tmp_path_factory) -> Path:
    """8 identities × 3 cameras with an identity-specific two-colour look (Market names)."""
    return make_two_colour_market(tmp_path_factory.mktemp("tiny_market"))


def _config(root: Path, out: Path, baseline: str, **extra):
    jvtc = {"batch_size": 4, "iters": 1, "global_start": 0, "min_samples": 2}
    per_baseline = {
        "jvtc": jvtc,
        "jvtc+": {**jvtc, "temporal_start": 0},
        "ice": {"batch_size": 8, "iters": 1, "eps": 0.6, "min_samples": 2},
        "mmcl": {"batch_size": 8, "iters": 1, "single_label_epochs": 0},
    }[baseline]
    return warmup_config(
        None,
        dataset="market",
        data_root=root,
        out=out,
        baseline=baseline,
        **SMALL,
        **per_baseline,
        **extra,
    )


@pytest.mark.parametrize("baseline", ["jvtc", "jvtc+", "ice", "mmcl"])
def test_baseline_end_to_end(tiny_market, tmp_path, baseline):
    out = tmp_path / baseline
    result = run_warmup(_config(tiny_market, out, baseline, epochs=1, eval_every=1))
    state = load_stage(out / "warmup.pt", expect="warmup")
    handoff = read_handoff(state)
    assert state["epoch"] == 1 and handoff.baseline == baseline
    assert handoff.temporal is (baseline == "jvtc+")
    assert handoff.size == (64, 32) and handoff.data_root == str(tiny_market)
    assert state["config"]["arch"] == "resnet18" and state["config"]["size"] == [64, 32]
    assert np.isfinite(result["metrics"]["loss"])
    assert 0.0 <= result["metrics"]["test"]["mAP"] <= 1.0
    assert read_manifest(out)["stages"]["warmup"]["epoch"] == 1
    model, info = load_identity_encoder(out / "warmup.pt")
    assert info["arch"] == "resnet18"
    assert ("feat.weight" in state["models"]["E_id"]) is (baseline != "ice")  # ICE: BN neck
    assert info["embed_dim"] == 512  # GCL's Linear head, or resnet18's pooled 512 channels
    expected = state["models"]["E_id"]["feat_bn.weight"]
    assert torch.equal(model.state_dict()["feat_bn.weight"], expected)
    evaluated = runner.invoke(
        app,
        [
            "eval",
            "--dataset",
            "market",
            "--data-root",
            str(tiny_market),
            "--checkpoint",
            str(out / "warmup.pt"),
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["mAP"] == pytest.approx(result["metrics"]["test"]["mAP"])
    if baseline == "ice":  # the exported encoder is the momentum one, not the online one
        online = state["models"]["E_id_online"]
        assert not torch.equal(expected, online["feat_bn.weight"])
        # its BN statistics are its own (train-mode passes), not copies of the online ones
        momentum = state["models"]["E_id"]
        assert not torch.equal(momentum["bn1.running_mean"], online["bn1.running_mean"])
    if baseline == "jvtc+":
        assert result["history"][0]["temporal"] is True
    if baseline == "ice":
        assert 0.0 <= result["history"][0]["one_camera"] <= 1.0
    if baseline in ("jvtc", "jvtc+"):  # clustering baselines log their labels' camera bias
        method_labels = state["extra"]["state"]["labels"]
        cams = np.asarray([r.camid for r in load_dataset("market", tiny_market).train])
        expected_share = round(one_camera_share(np.asarray(method_labels), cams), 3)
        assert result["history"][0]["one_camera"] == expected_share


def test_ice_gcl_head_option(tiny_market, tmp_path):
    out = tmp_path / "ice-gcl"
    run_warmup(_config(tiny_market, out, "ice", epochs=1, head="gcl"))
    state = load_stage(out / "warmup.pt", expect="warmup")
    assert state["config"]["head"] == "gcl"
    assert state["models"]["E_id"]["feat.weight"].shape == (512, 512)
    with pytest.raises(ConfigError, match="unknown head"):
        run_warmup(_config(tiny_market, tmp_path / "bad", "jvtc", epochs=1, head="mlp"))


def test_camera_bias_warning_once(monkeypatch):
    messages = []
    monkeypatch.setattr(engine.log, "warn", messages.append)
    assert engine._warn_camera_clusters({"one_camera": 0.95}) is True
    assert "95%" in messages[0] and "--pretrained" in messages[0]
    assert engine._warn_camera_clusters({"one_camera": 0.5}) is False
    assert engine._warn_camera_clusters({}) is False
    assert len(messages) == 1


def test_uda_source_then_target(tiny_market, tmp_path):
    out = tmp_path / "uda"
    cfg = _config(
        tiny_market,
        out,
        "jvtc",
        epochs=1,
        source="market",
        source_root=tiny_market,
        source_epochs=1,
        source_batch_size=8,
        source_iters=1,
    )
    result = run_warmup(cfg)
    phases = [h["phase"] for h in result["history"]]
    assert phases == ["source", "jvtc"]
    assert {"ce", "triplet"} <= set(result["history"][0])


def test_resume_gives_the_uninterrupted_state(tiny_market, tmp_path):
    """Also from a copy of the run folder: a run may be moved (or copied) and resumed there."""
    full, resumed, a, b = resumed_warmup(
        lambda out, epochs: _config(tiny_market, out, "jvtc", epochs=epochs), tmp_path, 2)
    with pytest.raises(ConfigError, match="differs"):
        warmup_config(None, out=tmp_path / "part", resume=True, lr=0.5)
    assert_same_models(a, b)
    assert torch.equal(a["extra"]["state"]["memory"], b["extra"]["state"]["memory"])
    assert full["metrics"]["loss"] == resumed["metrics"]["loss"]


@pytest.mark.slow
def test_ice_resume_restores_momentum_encoder(tiny_market, tmp_path):
    run_warmup(_config(tiny_market, tmp_path / "full", "ice", epochs=2))
    run_warmup(_config(tiny_market, tmp_path / "part", "ice", epochs=1))
    run_warmup(warmup_config(None, out=tmp_path / "part", resume=True, epochs=2))
    a, b = load_stage(tmp_path / "full" / "warmup.pt"), load_stage(tmp_path / "part" / "warmup.pt")
    assert_same_models(a, b, ("E_id", "E_id_online"))


def _cli_args(root: Path, out: Path, *more: str) -> list[str]:
    return [
        "warmup",
        "--dataset",
        "market",
        "--data-root",
        str(root),
        "--out",
        str(out),
        "--arch",
        "resnet18",
        "--pretrained",
        "none",
        "--size",
        "64x32",
        "--device",
        "cpu",
        "--workers",
        "0",
        *more,
    ]


def test_cli_runs_refuses_overwrite_and_prints_json(tiny_market, tmp_path):
    toml = tmp_path / "small.toml"
    toml.write_text("k1 = 6\nk2 = 2\nmin_samples = 2\nglobal_start = 0\n")
    out = tmp_path / "cli"
    args = _cli_args(
        tiny_market,
        out,
        "--baseline",
        "jvtc",
        "--epochs",
        "1",
        "--iters",
        "1",
        "--batch-size",
        "8",
        "--config",
        str(toml),
        "--json",
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["epochs"] == 1 and payload["checkpoint"].endswith("warmup.pt")
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "--resume" in again.output and "--overwrite" in again.output


def test_cli_bad_inputs(tiny_market, tmp_path):
    collapse = runner.invoke(
        app,
        _cli_args(
            tiny_market, tmp_path / "a", "--baseline", "ice", "--memory", "agnostic", "--no-hard"
        ),
    )
    assert collapse.exit_code == 2 and "collapses" in collapse.output
    unknown = runner.invoke(app, _cli_args(tiny_market, tmp_path / "b", "--baseline", "spcl"))
    assert unknown.exit_code == 2 and "unknown baseline" in unknown.output
    foreign = runner.invoke(
        app, _cli_args(tiny_market, tmp_path / "c", "--baseline", "jvtc", "--memory", "aware")
    )
    assert foreign.exit_code == 2 and "do not apply" in foreign.output
    assert "memory: ice" in " ".join(foreign.output.split())  # where the option belongs
    ema = runner.invoke(
        app, _cli_args(tiny_market, tmp_path / "e", "--baseline", "mmcl", "--ema", "0.9")
    )
    assert ema.exit_code == 2 and "ema" in ema.output and "do not apply" in ema.output
    bad_ema = runner.invoke(
        app, _cli_args(tiny_market, tmp_path / "f", "--baseline", "ice", "--ema", "1.5")
    )
    assert bad_ema.exit_code == 2 and "outside [0, 1)" in bad_ema.output
    assert not (tmp_path / "f" / "warmup.pt").exists()
    missing = runner.invoke(app, _cli_args(tmp_path / "nowhere", tmp_path / "d"))
    assert missing.exit_code == 2
    assert not (tmp_path / "d" / "warmup.pt").exists()


def _nan_as_null(value):
    """A history value as a metrics line holds it (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _nan_as_null(v) for k, v in value.items()}
    return None if isinstance(value, float) and value != value else value


def test_metrics_lines_after_an_interrupted_then_resumed_run(tiny_market, tmp_path, monkeypatch):
    """Epoch 2 is logged, then the run dies before its checkpoint: the resume logs it once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setattr(metrics_log, "STEP_EVERY", 1)
    out = tmp_path / "curves"
    with interrupted_at(monkeypatch, engine, "save_stage", epoch=2):
        config = _config(tiny_market, out, "jvtc", epochs=2, eval_every=1)
        run_warmup(dataclasses.replace(config, iters=2))
    run_warmup(warmup_config(None, out=out, resume=True, epochs=2))
    history = load_stage(out / "warmup.pt")["extra"]["history"]
    lines = (out / "warmup-metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    epochs = [r for r in records if "step" not in r]
    assert [r["epoch"] for r in epochs] == [1, 2] == [h["epoch"] for h in history]
    for record, entry in zip(epochs, history, strict=True):
        assert {k: record[k] for k in entry} == _nan_as_null(entry)
        assert record["stage"] == "warmup" and record["images_per_s"] > 0
    assert [(r["epoch"], r["step"]) for r in records if "step" in r] == [
        (1, 1), (1, 2), (2, 1), (2, 2)]
    with Image.open(out / "curves-warmup.png") as png:
        assert png.format == "PNG"
    events = EventAccumulator(str(out / "tensorboard" / "warmup"))
    events.Reload()
    losses = events.Scalars("epoch/loss")
    assert [e.step for e in losses] == [1, 2]
    assert [e.value for e in losses] == pytest.approx([h["loss"] for h in history])
