"""Foundation: config resolution (defaults < TOML < CLI) and stage checkpoints / manifests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from reidkit.config import config_to_dict, resolve_config
from reidkit.errors import CheckpointError, ConfigError
from reidkit.io import atomic_path, save_json
from reidkit.runs import (
    load_stage,
    read_manifest,
    require_stage,
    save_stage,
    stage_path,
)


@dataclass
class Demo:
    lr: float = 3.5e-4
    epochs: int = 40
    size: tuple[int, int] = (256, 128)
    out: Path | None = None
    name: str = "jvtc"


def test_defaults_then_toml_then_cli(tmp_path):
    assert resolve_config(Demo) == Demo()
    toml = tmp_path / "c.toml"
    toml.write_text('lr = 1\nepochs = 5\nsize = [128, 64]\nout = "runs/x"\n')
    from_file = resolve_config(Demo, toml)
    assert (from_file.lr, from_file.epochs, from_file.size) == (1.0, 5, (128, 64))
    assert isinstance(from_file.lr, float) and from_file.out == Path("runs/x")
    both = resolve_config(Demo, toml, epochs=7, name=None)  # None = option not given
    assert (both.epochs, both.lr, both.name) == (7, 1.0, "jvtc")
    assert config_to_dict(both)["out"] == "runs/x"


@pytest.mark.parametrize("text, message", [
    ("epochs = 5\nbogus = 1\n", "unknown config keys ['bogus']"),
    ("epochs = 'many'\n", "must be int"),
    ("epochs = \n", "not valid TOML"),
])
def test_bad_config_files(tmp_path, text, message):
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_config(Demo, toml)
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(Demo, tmp_path / "absent.toml")


def test_save_and_load_stage_with_manifest(tmp_path):
    run = tmp_path / "run"
    weights = {"w": torch.arange(6.0).view(2, 3)}
    save_stage(stage_path(run, "warmup"), stage="warmup", models={"E_id": weights},
               config={"arch": "resnet18", "size": [256, 128]}, epoch=3,
               metrics={"mAP": 0.5})
    state = load_stage(run / "warmup.pt", expect="warmup")
    assert state["stage"] == "warmup" and state["epoch"] == 3
    assert torch.equal(state["models"]["E_id"]["w"], weights["w"])
    assert state["config"]["size"] == [256, 128]
    save_stage(stage_path(run, "gen-warmup"), stage="gen-warmup", models={}, config={},
               epoch=1, parent=run / "warmup.pt")
    manifest = read_manifest(run)
    assert set(manifest["stages"]) == {"warmup", "gen-warmup"}
    assert manifest["stages"]["warmup"]["metrics"] == {"mAP": 0.5}
    child = load_stage(run / "gen-warmup.pt")
    assert len(child["parent_sha256"]) == 64
    assert json.loads((run / "manifest.json").read_text())["stages"]["warmup"]["epoch"] == 3


def test_wrong_stage_and_missing_stage_errors(tmp_path):
    save_stage(tmp_path / "warmup.pt", stage="warmup", models={}, config={}, epoch=0)
    with pytest.raises(CheckpointError, match="expected train-joint"):
        load_stage(tmp_path / "warmup.pt", expect="train-joint")
    with pytest.raises(CheckpointError, match="reidkit gen-warmup"):
        require_stage(tmp_path, "gen-warmup", produced_by="gen-warmup")
    torch.save({"plain": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a reidkit stage checkpoint"):
        load_stage(tmp_path / "plain.pt")


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "result.json"
    save_json({"a": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert json.loads(target.read_text()) == {"a": 1}  # the old file survives intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
