"""The pieces the three training loops share (reidkit.train.scaffold): what a resumed run takes
from its checkpoint, the same-data check, loader workers."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import make_warmup  # noqa: E402

from reidkit.commands.app import app  # noqa: E402
from reidkit.errors import CheckpointError, ConfigError  # noqa: E402
from reidkit.runs import load_stage  # noqa: E402
from reidkit.train.scaffold import check_same_data, loader_workers, resume_config  # noqa: E402

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass
class Settings:
    data_root: Path | None = None
    size: tuple[int, int] = (256, 128)
    lr: float = 0.1
    epochs: int = 10
    device: str = "auto"


SAVED = {"data_root": "/data", "size": [64, 32], "lr": 0.5, "epochs": 4, "device": "cpu",
         "arch": "resnet18"}  # a key the dataclass does not have (another stage's) is ignored


def test_left_out_settings_come_from_the_run_and_typed():
    resumed = resume_config(Settings(), SAVED, ("epochs", "device"), Path("r.pt"))
    assert resumed == Settings(data_root=Path("/data"), size=(64, 32), lr=0.5, epochs=4,
                               device="cpu")


def test_settings_that_may_change_are_taken_when_given():
    resumed = resume_config(Settings(epochs=20, device="cuda"), SAVED, ("epochs", "device"),
                            Path("r.pt"))
    assert (resumed.epochs, resumed.device, resumed.lr) == (20, "cuda", 0.5)


def test_another_value_for_a_fixed_setting_is_refused():
    with pytest.raises(ConfigError, match=r"--lr 0.2 differs from the run being resumed \(0.5\)"):
        resume_config(Settings(lr=0.2), SAVED, ("epochs",), Path("r.pt"))
    with pytest.raises(ConfigError, match=r"--size 32,16 differs"):
        resume_config(Settings(size=(32, 16)), SAVED, ("epochs",), Path("r.pt"))
    same = resume_config(Settings(lr=0.5), SAVED, ("epochs",), Path("r.pt"))
    assert same.lr == 0.5  # given again with the run's value: fine


def test_explicit_names_catch_a_default_given_on_purpose():
    # lr=0.1 is the default, so only the `given` list can tell it was typed on the command line
    assert resume_config(Settings(lr=0.1), SAVED, (), Path("r.pt")).lr == 0.5
    with pytest.raises(ConfigError, match="--lr 0.1 differs"):
        resume_config(Settings(lr=0.1), SAVED, (), Path("r.pt"), given={"lr"})


def test_same_data_check():
    state = {"dataset": {"sha256": "abc"}}
    check_same_data(state, {"sha256": "abc"}, Path("r.pt"))
    with pytest.raises(CheckpointError, match="dataset differs"):
        check_same_data(state, {"sha256": "abd"}, Path("r.pt"))


def test_loader_workers():
    assert loader_workers(3, torch.device("cpu")) == 3
    assert loader_workers(-1, torch.device("cpu")) == 0
    assert 1 <= loader_workers(-1, torch.device("cuda")) <= 8


def _run(*args: str):
    return runner.invoke(app, [*args, "--device", "cpu"])


def test_gen_warmup_and_train_joint_refuse_a_changed_setting_on_resume(crop_tree):
    """Both GAN stages used to resume silently with a changed setting (gen-warmup kept the saved
    one, train-joint took the new one); now, like the warm-up, they refuse it and keep the rest."""
    run = crop_tree / "run"
    make_warmup(run, crop_tree / "data")
    gen = ["gen-warmup", "--run", str(run), "--mesh-root", str(crop_tree / "mesh"), "--batch-size",
           "2", "--iters-per-epoch", "1", "--workers", "0", "--sample-every", "0"]
    assert _run(*gen, "--epochs", "1", "--lr", "2e-4").exit_code == 0
    refused = _run(*gen, "--epochs", "2", "--lr", "3e-4", "--resume")
    assert refused.exit_code == 2 and "--lr 0.0003 differs from the run being resumed (0.0002)" \
        in " ".join(refused.output.split())
    assert _run(*gen, "--epochs", "2", "--resume").exit_code == 0  # --lr left out: the run's
    state = load_stage(run / "gen-warmup.pt", "gen-warmup")
    assert state["epoch"] == 2 and state["config"]["lr"] == 2e-4
    joint = ["train-joint", "--run", str(run), "--iters-per-epoch", "1", "--batch-size", "2",
             "--eps", "0.6", "--config", str(crop_tree / "joint.toml")]
    assert _run(*joint, "--epochs", "1", "--lr-id", "5e-4").exit_code == 0
    refused = _run(*joint, "--epochs", "2", "--lr-id", "6e-4", "--resume")
    assert refused.exit_code == 2 and "--lr-id 0.0006 differs" in " ".join(refused.output.split())
    assert _run(*joint, "--epochs", "2", "--resume").exit_code == 0
    state = load_stage(run / "train-joint.pt", "train-joint")
    assert state["epoch"] == 2 and state["config"]["lr_id"] == 5e-4
