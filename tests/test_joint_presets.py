"""`--preset paper|reference` of gen-warmup and train-joint: what each preset sets, the order of
precedence (dataclass defaults < preset < --config TOML < command line), the reference's 45..270
view draw, its constant G/D lr and carried Adam moments, the preset recorded and printed, and
resume refusing another preset. Tiny data (40×40, resnet18, batch 2) on CPU."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import CROP_SIZE as SIZE  # noqa: E402
from fixtures import make_crop_market, make_warmup

from reidkit import log  # noqa: E402
from reidkit.commands.app import app  # noqa: E402
from reidkit.config import resolve_config  # noqa: E402
from reidkit.data.datasets import load_dataset  # noqa: E402
from reidkit.data.mesh_pairs import (  # noqa: E402
    ANGLES,  # noqa: E402
    MeshPairDataset,
    new_view_angles,
)
from reidkit.errors import ConfigError, DatasetError  # noqa: E402
from reidkit.runs import Handoff, load_stage, save_stage  # noqa: E402
from reidkit.stages.gen_warmup import GenWarmupConfig, _resolve  # noqa: E402
from reidkit.stages.train_joint import TrainJointConfig, run_train_joint  # noqa: E402
from reidkit.train import joint_setup as setup  # noqa: E402
from reidkit.train.distributed import DistContext  # noqa: E402

runner = CliRunner()
TINY = dict(eps=0.6, k1=6, k2=2, min_samples=2, batch_size=2, device="cpu", workers=0)
GEN = ["--batch", "2", "--epochs", "1", "--iters-per-epoch", "2", "--device", "cpu",
       "--workers", "0", "--sample-every", "0"]
# What each preset means, written from the paper / the authors' code (not read from reidkit).
PAPER_GEN = {"feat_variant": "paper", "view_variant": "paper"}
REF_GEN = {"feat_variant": "reference", "view_variant": "reference"}
PAPER_JOINT = {"loss_variant": "paper", "view_variant": "paper", "gan_lr_decay": True,
               "carry_adam": False}
REF_JOINT = {"loss_variant": "reference", "view_variant": "reference", "gan_lr_decay": False,
             "carry_adam": True}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Data, renders without render_315 (the reference never reads them) and a reference
    gen-warmup run of 2 iterations on them."""
    root = tmp_path_factory.mktemp("presets")
    make_crop_market(root / "data", root / "mesh", ids=4, per_cam=2)
    shutil.rmtree(root / "mesh" / "train" / "render_315")
    (root / "joint.toml").write_text("k1 = 6\nk2 = 2\nmin_samples = 2\nworkers = 0\n"
                                     "lr_step = 1\n")
    run = root / "gw"
    make_warmup(run, root / "data")
    log.set_quiet(False)
    made = runner.invoke(app, ["gen-warmup", "--run", str(run), "--mesh-root",
                               str(root / "mesh"), "--preset", "reference", *GEN])
    assert made.exit_code == 0, made.output
    return {"root": root, "gw": run, "gen_log": made.stderr}


def _copy_run(tiny, name: str) -> Path:
    target = tiny["root"] / name
    shutil.copytree(tiny["gw"], target)
    return target


def _fields(config, keys) -> dict:
    return {k: getattr(config, k) for k in keys}


# --- the new-view draw ---------------------------------------------------------------------

def _angle_coded_renders(root: Path, name: str) -> Path:
    """Renders of one image whose grey level says the angle (render_<a> = 20 + a / 45 · 25)."""
    for angle in (0, *ANGLES):
        sub = "render" if angle == 0 else f"render_{angle}"
        (root / "train" / sub).mkdir(parents=True, exist_ok=True)
        level = 20 + angle // 45 * 25
        Image.fromarray(np.full(SIZE, level, np.uint8)).save(root / "train" / sub / name)
    return root


@pytest.mark.parametrize(("variant", "expected"), [
    ("paper", {45, 90, 135, 180, 225, 270, 315}),
    ("reference", {45, 90, 135, 180, 225, 270}),
])
def test_new_view_draw_counts(tiny, tmp_path, variant, expected):
    record = load_dataset("market", tiny["root"] / "data").train[0]
    mesh = _angle_coded_renders(tmp_path / "mesh", record.name)
    data = MeshPairDataset([record], mesh, size=SIZE, angles=new_view_angles(variant))
    torch.manual_seed(0)
    draws = 1400
    counts: Counter[int] = Counter()
    for _ in range(draws):
        level = (float(data[0][2].mean()) * 0.5 + 0.5) * 255  # undo Normalize(0.5, 0.5)
        counts[int(round((level - 20) / 25)) * 45] += 1
    assert set(counts) == expected
    share = draws / len(expected)  # uniform: 200 (paper) or 233 (reference) per angle
    assert all(0.75 * share < c < 1.25 * share for c in counts.values()), counts


def test_reference_gen_warmup_never_reads_315_and_paper_does(tiny):
    # the fixture's reference run trained on renders without render_315
    saved = load_stage(tiny["gw"] / "gen-warmup.pt", "gen-warmup")["config"]
    assert {k: saved[k] for k in ("preset", *REF_GEN)} == {"preset": "reference", **REF_GEN}
    run = tiny["root"] / "gw-paper"
    make_warmup(run, tiny["root"] / "data")
    paper = runner.invoke(app, ["gen-warmup", "--run", str(run), "--mesh-root",
                                str(tiny["root"] / "mesh"), *GEN])
    assert paper.exit_code == 2
    assert "render_315" in paper.output and "Traceback" not in paper.output


def test_train_joint_view_variant_reaches_its_dataset(tiny):
    run = _copy_run(tiny, "joint-paper-views")
    config = TrainJointConfig(run=run, epochs=1, iters_per_epoch=1, preset="paper", **TINY)
    with pytest.raises(DatasetError, match="render_315"):
        run_train_joint(config)


# --- precedence ----------------------------------------------------------------------------

@pytest.mark.parametrize(("toml", "cli", "expected"), [
    ("", {}, {"preset": "paper", **PAPER_GEN}),
    ("", {"preset": "reference"}, {"preset": "reference", **REF_GEN}),
    ('preset = "reference"\nfeat_variant = "paper"\n', {},
     {"preset": "reference", "feat_variant": "paper", "view_variant": "reference"}),
    ('feat_variant = "paper"\n', {"preset": "reference"},
     {"preset": "reference", "feat_variant": "paper", "view_variant": "reference"}),
    ('preset = "reference"\n', {"preset": "paper"}, {"preset": "paper", **PAPER_GEN}),
    ('preset = "reference"\nview_variant = "reference"\n', {"view_variant": "paper"},
     {"preset": "reference", "feat_variant": "reference", "view_variant": "paper"}),
])
def test_gen_warmup_precedence(tiny, tmp_path, toml, cli, expected):
    file = tmp_path / "gen.toml"
    file.write_text(toml)
    config = resolve_config(GenWarmupConfig, file, run=tiny["gw"], **cli)
    resolved, _, _ = _resolve(config)
    assert _fields(resolved, expected) == expected


@pytest.mark.parametrize(("toml", "cli", "upstream", "expected"), [
    ("", {}, {}, {"preset": "paper", **PAPER_JOINT}),
    ("", {}, {"preset": "reference"}, {"preset": "reference", **REF_JOINT}),
    ("", {"preset": "paper"}, {"preset": "reference"}, {"preset": "paper", **PAPER_JOINT}),
    ("carry_adam = false\n", {"preset": "reference"}, {},
     {"preset": "reference", **REF_JOINT, "carry_adam": False}),
    ('preset = "reference"\n', {"gan_lr_decay": True}, {},
     {"preset": "reference", **REF_JOINT, "gan_lr_decay": True}),
    ('preset = "reference"\nloss_variant = "reference"\n', {"loss_variant": "paper"}, {},
     {"preset": "reference", **REF_JOINT, "loss_variant": "paper"}),
    ('preset = "paper"\n', {"preset": "reference"}, {}, {"preset": "reference", **REF_JOINT}),
])
def test_train_joint_precedence(tmp_path, toml, cli, upstream, expected):
    file = tmp_path / "joint.toml"
    file.write_text(toml)
    config = resolve_config(TrainJointConfig, file, **cli)
    resolved = setup.resolve_preset(config, Handoff(**upstream), None,
                                    tmp_path / "train-joint.pt")
    assert _fields(resolved, expected) == expected


def test_train_joint_resume_keeps_the_saved_preset_and_values(tmp_path):
    saved = {"config": {"preset": "reference", "loss_variant": "paper", "view_variant": "reference",
                        "gan_lr_decay": False, "carry_adam": True}}
    path = tmp_path / "train-joint.pt"
    kept = setup.resolve_preset(TrainJointConfig(), Handoff(preset="paper"), saved, path)
    assert _fields(kept, ["preset", *REF_JOINT]) == {"preset": "reference", **REF_JOINT,
                                                      "loss_variant": "paper"}
    with pytest.raises(ConfigError, match=r"--preset paper differs .*\(reference\)"):
        setup.resolve_preset(TrainJointConfig(preset="paper"), Handoff(), saved, path)
    old = setup.resolve_preset(TrainJointConfig(), Handoff(), {"config": {"loss_variant": "paper"}},
                               path)
    assert old.preset == "paper"  # a checkpoint from before presets ran the paper's settings


def test_unknown_preset_is_refused(tiny, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('preset = "authors"\n')
    for command in ("gen-warmup", "train-joint"):
        result = runner.invoke(app, [command, "--run", str(tiny["gw"]), "--config", str(bad)])
        assert result.exit_code == 2 and "unknown --preset authors" in result.output


# --- optimisers: constant G/D lr and carried Adam moments -----------------------------------

def test_carried_adam_moments_equal_gen_warmup_state(tiny):
    upstream = load_stage(tiny["gw"] / "gen-warmup.pt", "gen-warmup")
    ctx = DistContext(0, 1, 0, torch.device("cpu"))
    models = setup.build_models(upstream, tiny["gw"] / "gen-warmup.pt", ctx)
    config = setup.resolve_preset(TrainJointConfig(preset="reference", lr_gan=3e-4), Handoff(),
                                  None, tiny["gw"] / "train-joint.pt")
    carried = setup.gen_warmup_moments(upstream, tiny["gw"] / "gen-warmup.pt")
    optimizers, _ = setup.build_optimizers(models, config, ctx, carried)
    for key, modules in (("gen", ("E_str", "G")), ("dis", ("D",))):
        saved = upstream["optimizers"][key]["state"]
        params = [p for m in modules for p in models[m].parameters()]
        assert len(saved) == len(params)
        for i, param in enumerate(params):
            state = optimizers[key].state[param]
            assert torch.equal(state["exp_avg"], saved[i]["exp_avg"]), (key, i)
            assert torch.equal(state["exp_avg_sq"], saved[i]["exp_avg_sq"]), (key, i)
            assert float(state["step"]) == 2  # gen-warmup's two iterations
        assert optimizers[key].param_groups[0]["lr"] == 3e-4  # train-joint's own lr, not carried
    fresh, _ = setup.build_optimizers(models, setup.resolve_preset(
        TrainJointConfig(preset="paper"), Handoff(), None, tiny["gw"] / "train-joint.pt"), ctx)
    assert not fresh["gen"].state and not fresh["dis"].state


def test_reference_run_keeps_gd_lr_and_carries_adam_then_resumes(tiny):
    run = _copy_run(tiny, "joint-reference")
    base = ["train-joint", "--run", str(run), "--iters-per-epoch", "1", "--batch-size", "2",
            "--eps", "0.6", "--device", "cpu", "--config", str(tiny["root"] / "joint.toml")]
    log.set_quiet(False)
    first = runner.invoke(app, [*base, "--epochs", "1", "--json"])
    assert first.exit_code == 0, first.output
    assert "preset reference" in first.stderr and "carry_adam=True" in first.stderr
    assert json.loads(first.stdout)["preset"] == "reference"  # inherited from gen-warmup.pt
    refused = runner.invoke(app, [*base, "--epochs", "2", "--resume", "--preset", "paper"])
    assert refused.exit_code == 2
    assert "differs from the preset this run started with (reference)" in refused.output
    second = runner.invoke(app, [*base, "--epochs", "2", "--resume", "--json"])
    assert second.exit_code == 0, second.output
    history = json.loads(second.stdout)["history"]
    assert [h["lr_gan"] for h in history] == [1e-4, 1e-4]  # lr_step = 1: no ×0.1 for G/D
    assert [h["lr_id"] for h in history] == pytest.approx([3.5e-5, 3.5e-6])  # E_id still steps
    state = load_stage(run / "train-joint.pt", "train-joint")
    assert state["config"]["preset"] == "reference" and state["extra"]["preset"] == "reference"
    assert {k: state["config"][k] for k in REF_JOINT} == REF_JOINT
    assert state["config"]["feat_variant"] == "reference"
    assert state["optimizers"]["dis"]["param_groups"][0]["lr"] == 1e-4
    for key in ("gen", "dis"):  # gen-warmup's 2 Adam steps + 2 joint iterations
        assert float(state["optimizers"][key]["state"][0]["step"]) == 4


def test_paper_run_drops_gd_lr_with_fresh_adam(tiny):
    run = _copy_run(tiny, "joint-paper")
    # the explicit --view-variant wins over the paper preset (these renders lack render_315)
    result = run_train_joint(TrainJointConfig(run=run, epochs=2, iters_per_epoch=1, lr_step=1,
                                              preset="paper", view_variant="reference", **TINY))
    assert [h["lr_gan"] for h in result["history"]] == pytest.approx([1e-5, 1e-6])
    state = load_stage(run / "train-joint.pt", "train-joint")
    assert state["config"]["preset"] == "paper" and state["config"]["view_variant"] == "reference"
    assert state["optimizers"]["dis"]["param_groups"][0]["lr"] == pytest.approx(1e-6)
    for key in ("gen", "dis"):
        assert float(state["optimizers"][key]["state"][0]["step"]) == 2


def test_carry_adam_needs_gen_warmup_state(tiny):
    run = _copy_run(tiny, "joint-no-adam")
    state = load_stage(run / "gen-warmup.pt")
    save_stage(run / "gen-warmup.pt", stage="gen-warmup", models=state["models"],
               config=state["config"], epoch=state["epoch"])
    result = runner.invoke(app, ["train-joint", "--run", str(run), "--device", "cpu"])
    assert result.exit_code == 2
    assert "no Adam state" in result.output and "--no-carry-adam" in result.output


# --- gen-warmup: recorded, printed, resumed ----------------------------------------------------

def test_gen_warmup_records_prints_and_resumes_its_preset(tiny):
    assert "preset reference" in tiny["gen_log"] and "view_variant=reference" in tiny["gen_log"]
    run = _copy_run(tiny, "gw-resume")
    base = ["gen-warmup", "--run", str(run), "--mesh-root", str(tiny["root"] / "mesh"), *GEN]
    refused = runner.invoke(app, [*base, "--epochs", "2", "--resume", "--preset", "paper"])
    assert refused.exit_code == 2
    assert "differs from the preset this run started with (reference)" in refused.output
    # without --preset the saved one is kept: the paper's draw would need the missing 315 renders
    resumed = runner.invoke(app, [*base, "--epochs", "2", "--resume", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["config"]["preset"] == "reference"
    assert load_stage(run / "gen-warmup.pt")["epoch"] == 2
