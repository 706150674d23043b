"""The E_id hand-off through every stage when the warm-up encoder has no `feat` layer (the
ICE-style BN neck, `IdentityEncoder(arch, embed_dim=None)`): a reidkit warm-up checkpoint and an
imported ICE checkpoint go through gen-warmup → train-joint → eval, each stage rebuilding E_id in
the shape the checkpoint holds and loading it strictly; train-joint records the baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import CROP_SIZE as SIZE  # noqa: E402
from fixtures import make_warmup, save_ice

from reidkit.commands.app import app  # noqa: E402
from reidkit.data.datasets import load_dataset  # noqa: E402
from reidkit.evaluation.engine import evaluate_model  # noqa: E402
from reidkit.models.identity import IdentityEncoder  # noqa: E402
from reidkit.runs import Handoff, load_stage, read_handoff, save_stage  # noqa: E402

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")


def _neck_keys(arch: str) -> set[str]:
    """The tensor names of a BN-neck E_id, from a model built here."""
    return set(IdentityEncoder(arch, embed_dim=None).state_dict())


def _gen_warmup(crop_tree: Path, run: Path, *extra: str) -> None:
    result = runner.invoke(app, ["gen-warmup", "--run", str(run), "--mesh-root",
                                 str(crop_tree / "mesh"), "--batch", "2", "--iters-per-epoch", "1",
                                 "--epochs", "1", "--device", "cpu", "--workers", "0",
                                 "--sample-every", "0", *extra])
    assert result.exit_code == 0, result.output


def _train_joint(crop_tree: Path, run: Path):
    return runner.invoke(app, ["train-joint", "--run", str(run), "--epochs", "1",
                               "--iters-per-epoch", "1", "--batch-size", "2", "--eps", "0.6",
                               "--device", "cpu", "--config", str(crop_tree / "joint.toml"),
                               "--json"])


def _eval(crop_tree: Path, checkpoint: Path) -> dict:
    result = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--dataset", "market",
                                 "--data-root", str(crop_tree / "data"), "--device", "cpu",
                                 "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check_joint_stage(crop_tree: Path, run: Path, arch: str, dim: int) -> dict:
    """train-joint runs on the BN-neck E_id, keeps its shape, and eval scores what it saved."""
    joint = _train_joint(crop_tree, run)
    assert joint.exit_code == 0, joint.output
    state = load_stage(run / "train-joint.pt", "train-joint")
    assert set(state["models"]["E_id"]) == _neck_keys(arch)  # no `feat`, nothing extra
    memory = state["extra"]["memory"]["features"]
    n_train = len(load_dataset("market", crop_tree / "data").train)
    assert memory.shape == (n_train, dim)
    assert torch.allclose(memory.norm(dim=1), torch.ones(n_train), atol=1e-5)
    scores = _eval(crop_tree, run / "train-joint.pt")
    model = IdentityEncoder(arch, embed_dim=None)
    model.load_state_dict(state["models"]["E_id"])  # strict: the saved E_id is a whole neck
    expect = evaluate_model(model.eval(), load_dataset("market", crop_tree / "data"), size=SIZE,
                            device="cpu")
    assert scores["arch"] == arch and scores["mAP"] == pytest.approx(expect["mAP"])
    return state


@pytest.mark.parametrize(("arch", "dim"), [
    ("resnet18", 512),
    pytest.param("resnet50", 2048, marks=pytest.mark.slow),
])
def test_bn_neck_warmup_runs_every_stage(crop_tree, arch, dim):
    run = crop_tree / f"neck-{arch}"
    make_warmup(run, crop_tree / "data", embed_dim=None, arch=arch)
    warm = load_stage(run / "warmup.pt")["models"]["E_id"]
    _gen_warmup(crop_tree, run)
    gen = load_stage(run / "gen-warmup.pt", "gen-warmup")
    assert set(gen["models"]["E_id"]) == _neck_keys(arch)
    assert all(torch.equal(warm[k], v) for k, v in gen["models"]["E_id"].items())  # frozen
    assert gen["config"]["baseline"] == "jvtc"
    state = _check_joint_stage(crop_tree, run, arch, dim)
    assert state["config"]["baseline"] == "jvtc"  # handed over, not overwritten with None
    assert state["config"]["arch"] == arch


def test_imported_ice_checkpoint_runs_every_stage(crop_tree):
    torch.manual_seed(5)
    source = IdentityEncoder("resnet18", embed_dim=None)
    ice = save_ice(source, crop_tree / "ice.pth.tar")
    run = crop_tree / "ice"
    _gen_warmup(crop_tree, run, "--init", str(ice), "--dataset", "market", "--data-root",
                str(crop_tree / "data"), "--size", f"{SIZE[0]}x{SIZE[1]}")
    gen = load_stage(run / "gen-warmup.pt", "gen-warmup")
    expected = source.state_dict()
    assert set(gen["models"]["E_id"]) == set(expected)
    assert all(torch.equal(expected[k], v) for k, v in gen["models"]["E_id"].items())
    state = _check_joint_stage(crop_tree, run, "resnet18", 512)
    assert state["config"]["baseline"] is None  # an ICE file names no reidkit baseline


def test_train_joint_loads_e_id_strictly(crop_tree):
    run = crop_tree / "damaged"
    make_warmup(run, crop_tree / "data", embed_dim=None)
    _gen_warmup(crop_tree, run)
    state = load_stage(run / "gen-warmup.pt")
    state["models"]["E_id"].pop("feat_bn.running_var")
    state["models"]["E_id"]["classifier.weight"] = torch.zeros(4, 512)
    save_stage(run / "gen-warmup.pt", stage="gen-warmup", models=state["models"],
               config=state["config"], epoch=state["epoch"], optimizers=state["optimizers"])
    result = _train_joint(crop_tree, run)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "feat_bn.running_var" in text and "classifier.weight" in text
    assert "gen-warmup.pt" in text and "Traceback" not in result.output


def test_jvtc_plus_record_reaches_train_joint_without_the_warmup_file(crop_tree):
    """The temporal model of a jvtc+ warm-up travels in the hand-off record: gen-warmup writes it
    on, and train-joint uses it after the warm-up file is gone (nothing reads two stages up)."""
    run = crop_tree / "temporal"
    torch.manual_seed(0)
    record = Handoff(dataset="market", data_root=str(crop_tree / "data"), size=SIZE,
                     arch="resnet18", baseline="jvtc+", temporal=True)
    save_stage(run / "warmup.pt", stage="warmup", epoch=1, config={}, handoff=record,
               models={"E_id": IdentityEncoder("resnet18").state_dict()})
    _gen_warmup(crop_tree, run)
    (run / "warmup.pt").unlink()
    gen = read_handoff(load_stage(run / "gen-warmup.pt", "gen-warmup"))
    assert (gen.baseline, gen.temporal, gen.mesh_root) == ("jvtc+", True, str(crop_tree / "mesh"))
    assert gen.size == SIZE and gen.gan_weights == (5.0, 5.0, 1.0)
    joint = _train_joint(crop_tree, run)
    assert joint.exit_code == 0, joint.output
    assert "temporal" in " ".join(joint.output.split())
    final = read_handoff(load_stage(run / "train-joint.pt", "train-joint"))
    assert (final.baseline, final.temporal, final.preset) == ("jvtc+", True, "paper")


def test_a_narrow_discriminator_travels_to_train_joint(crop_tree):
    """`--d-dim 8`: gen-warmup trains an 8-channel D, train-joint rebuilds it from the checkpoint
    (a strict load into the paper's 32 channels would fail) and saves it at that width."""
    run = crop_tree / "narrow-d"
    make_warmup(run, crop_tree / "data", embed_dim=None, arch="resnet18")
    _gen_warmup(crop_tree, run, "--d-dim", "8")
    trained = load_stage(run / "gen-warmup.pt", "gen-warmup")["models"]["D"]
    assert trained["scales.0.stem.0.conv.weight"].shape[0] == 8
    joint = _train_joint(crop_tree, run)
    assert joint.exit_code == 0, joint.output
    saved = load_stage(run / "train-joint.pt", "train-joint")["models"]["D"]
    assert {v.shape[0] for k, v in saved.items() if k.endswith("stem.0.conv.weight")} == {8}
    bad = runner.invoke(app, ["gen-warmup", "--run", str(run), "--d-dim", "2", "--device", "cpu"])
    assert bad.exit_code == 2 and "--d-dim" in bad.output and "Traceback" not in bad.output
