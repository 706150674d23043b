"""train-joint end to end on a tiny Market-layout set (resnet18, CPU): hand-over from gen-warmup,
checkpoint contents, exact resume (also mid-epoch), CLI output and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import make_crop_market, make_gen_warmup, make_warmup  # noqa: E402

from reidkit import log, metrics_log  # noqa: E402
from reidkit.commands.app import app  # noqa: E402
from reidkit.errors import ConfigError  # noqa: E402
from reidkit.models.loading import load_identity_encoder  # noqa: E402
from reidkit.runs import load_stage  # noqa: E402
from reidkit.stages.train_joint import TrainJointConfig, run_train_joint  # noqa: E402

TINY = dict(eps=0.6, k1=6, k2=2, min_samples=2, batch_size=2, device="cpu", workers=0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    make_crop_market(root / "data", root / "mesh", ids=4, per_cam=2)
    return root


def _fresh_run(tiny: Path, name: str) -> Path:
    run = tiny / name
    make_gen_warmup(run, tiny / "data", tiny / "mesh")
    return run


class Interrupt(Exception):
    """Stands in for a crash at a chosen iteration."""


def _metrics(run: Path) -> tuple[list[dict], list[tuple[int, int]]]:
    """The epoch records and the (epoch, step) of the step records in train-joint's log."""
    lines = (run / "train-joint-metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return ([r for r in records if "step" not in r],
            [(r["epoch"], r["step"]) for r in records if "step" in r])


def test_resume_mid_epoch_reproduces_uninterrupted_run(tiny, monkeypatch):
    monkeypatch.setattr(metrics_log, "STEP_EVERY", 1)
    base = dict(TINY, epochs=2, iters_per_epoch=2, no_gan=True)
    straight = _fresh_run(tiny, "straight")
    run_train_joint(TrainJointConfig(run=straight, **base))

    broken = _fresh_run(tiny, "broken")

    def crash(step):
        if step["iteration"] == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_train_joint(TrainJointConfig(run=broken, checkpoint_every=1, **base), observer=crash)
    saved = load_stage(broken / "train-joint.pt", "train-joint")
    assert (saved["epoch"], saved["extra"]["batch"], saved["iteration"]) == (1, 1, 3)
    result = run_train_joint(TrainJointConfig(run=broken, resume=True, **base))
    assert result["history"][-1]["iterations"] == 4
    a = load_stage(straight / "train-joint.pt")
    b = load_stage(broken / "train-joint.pt")
    for name in ("E_id",):
        for key, value in a["models"][name].items():
            assert torch.equal(value, b["models"][name][key]), key
    assert torch.equal(a["extra"]["memory"]["features"], b["extra"]["memory"]["features"])
    assert torch.equal(a["extra"]["memory"]["labels"], b["extra"]["memory"]["labels"])
    epochs, steps = _metrics(broken)  # the step saved mid-epoch is kept, not logged twice
    assert steps == _metrics(straight)[1] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert epochs == [{"stage": "train-joint", **h} for h in b["extra"]["history"]]


def test_metrics_lines_after_an_interrupted_then_resumed_run(tiny, monkeypatch):
    """Epoch 2's steps are logged, then the run dies (the last checkpoint is epoch 1's): the
    resume drops and relogs them, once, and the epoch records are the checkpoint's history."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setattr(metrics_log, "STEP_EVERY", 1)
    base = dict(TINY, epochs=2, iters_per_epoch=2, no_gan=True)
    run = _fresh_run(tiny, "curves")

    def crash(step):
        if step["iteration"] == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_train_joint(TrainJointConfig(run=run, **base), observer=crash)
    assert load_stage(run / "train-joint.pt")["epoch"] == 1
    result = run_train_joint(TrainJointConfig(run=run, resume=True, **base))
    epochs, steps = _metrics(run)
    assert steps == [(1, 1), (1, 2), (2, 1), (2, 2)]
    history = load_stage(run / "train-joint.pt")["extra"]["history"]
    assert history == result["history"]
    assert epochs == [{"stage": "train-joint", **h} for h in history]
    with Image.open(run / "curves-train-joint.png") as png:
        assert png.format == "PNG"
    events = EventAccumulator(str(run / "tensorboard" / "train-joint"))
    events.Reload()
    assert [e.step for e in events.Scalars("step/l_all")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("epoch/clusters")] == [2, 4]
    assert [e.value for e in events.Scalars("epoch/l_all")] == pytest.approx(
        [h["l_all"] for h in history])


def test_cli_gan_run_hands_over_and_resumes(tiny, tmp_path):
    """warmup.pt → the real `reidkit gen-warmup` → `reidkit train-joint`, no extra flags."""
    run = tiny / "cli"
    make_warmup(run, tiny / "data")
    runner = CliRunner()
    made = runner.invoke(app, ["gen-warmup", "--run", str(run), "--mesh-root", str(tiny / "mesh"),
                               "--batch-size", "2", "--iters-per-epoch", "1", "--epochs", "1",
                               "--device", "cpu", "--workers", "0"])
    assert made.exit_code == 0, made.output
    toml = tmp_path / "joint.toml"
    toml.write_text("k1 = 6\nk2 = 2\nmin_samples = 2\nworkers = 0\n")
    args = ["train-joint", "--run", str(run), "--epochs", "1", "--iters-per-epoch", "1",
            "--batch-size", "2", "--eps", "0.6", "--device", "cpu", "--config", str(toml)]
    log.set_quiet(False)
    first = runner.invoke(app, [*args, "--json"])
    assert first.exit_code == 0, first.output
    assert "clusters" in first.stderr and "epoch 1" in first.stderr
    result = json.loads(first.stdout)
    epoch = result["history"][0]
    assert epoch["clusters"] >= 1 and {"l_gan", "l_vi", "l_vi1", "l_vi2", "d_loss"} <= set(epoch)
    state = load_stage(run / "train-joint.pt", "train-joint")
    assert state["parent"] == str(run / "gen-warmup.pt")
    assert set(state["models"]) == {"E_id", "E_str", "G", "D"}
    assert state["config"]["arch"] == "resnet18" and state["config"]["mesh_root"]
    assert state["extra"]["loss_variant"] == "paper"
    model, info = load_identity_encoder(run / "train-joint.pt")  # eval reads it without flags
    assert info["arch"] == "resnet18"

    second = runner.invoke(app, [*args[:4], "2", *args[5:], "--resume"])
    assert second.exit_code == 0, second.output
    assert "train-joint" in second.stdout
    assert load_stage(run / "train-joint.pt")["epoch"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--losses", "gan,bogus"], "--losses"),
        (["--eps", "0.5", "--rho", "0.002"], "exclusive"),
        (["--augment"], "--no-gan"),
        (["--loss-variant", "mine"], "--loss-variant"),
    ],
)
def test_cli_bad_options(tmp_path, extra, message):
    result = CliRunner().invoke(app, ["train-joint", "--run", str(tmp_path), *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_missing_gen_warmup(tmp_path):
    result = CliRunner().invoke(app, ["train-joint", "--run", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "gen-warmup" in result.output and "fix:" in result.output


def test_no_run_folder_is_refused_by_the_stage(tmp_path):
    """The command line and a Python caller get the same refusal (the stage's own check)."""
    result = CliRunner().invoke(app, ["train-joint"])
    assert result.exit_code == 2 and "no run folder given" in result.output
    toml = tmp_path / "no_run.toml"
    toml.write_text("epochs = 1\n")
    from_file = CliRunner().invoke(app, ["train-joint", "--config", str(toml)])
    assert from_file.exit_code == 2 and "no run folder given" in from_file.output
    with pytest.raises(ConfigError, match="no run folder"):
        run_train_joint(TrainJointConfig())
