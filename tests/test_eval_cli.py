"""`reidkit eval` end to end on a tiny Market tree with a random resnet18 E_id saved in every
accepted checkpoint format, plus feature extraction and the checkpoint loader's remapping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from fixtures import ICE_STEM, ICE_STEM_RELU, ice_state, make_market_run, save_ice
from PIL import Image
from typer.testing import CliRunner

from reidkit import log
from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.evaluation.engine import evaluate_model
from reidkit.evaluation.features import extract_features
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import load_identity_encoder

runner = CliRunner()
SIZE = (64, 32)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The dataset, two random models (512 head and ICE's BN neck) and their checkpoints."""
    root = tmp_path_factory.mktemp("eval")
    model = make_market_run(root, seed=1, size=SIZE)
    ice = IdentityEncoder("resnet18", None).eval()  # drawn after E_id: the seed fixes both
    state = model.state_dict()
    plain = {f"module.{k}": v for k, v in state.items()}
    plain["module.classifier.weight"] = torch.zeros(3, 512)
    torch.save(plain, root / "jvtc.pth")
    torch.save({"id": state}, root / "id_00001000.pt")
    save_ice(ice, root / "ice.pth.tar", ICE_STEM_RELU, classes=5)
    torch.save({"gen": {"dec.weight": torch.zeros(2)}}, root / "gen_00001000.pt")
    dataset = load_dataset("market", root / "market")
    expect = {
        name: evaluate_model(m, dataset, size=SIZE, device="cpu")
        for name, m in (("ours", model), ("ice", ice))
    }
    return root, model, ice, expect


def eval_cli(root, checkpoint, *extra):
    args = ["eval", "--dataset", "market", "--data-root", str(root / "market"),
            "--checkpoint", str(checkpoint), "--device", "cpu", *extra]
    return runner.invoke(app, args)


@pytest.mark.parametrize(
    "file, size, fmt, model",
    [
        ("run/warmup.pt", [], "reidkit:warmup", "ours"),  # size from the checkpoint's config
        ("jvtc.pth", ["--size", "64x32"], "state_dict", "ours"),
        ("id_00001000.pt", ["--size", "64x32"], "gcl-id", "ours"),
        ("ice.pth.tar", ["--size", "64x32"], "ice", "ice"),
    ],
)
def test_eval_every_checkpoint_format(world, file, size, fmt, model):
    root, _, _, expect = world
    result = eval_cli(root, root / file, *size, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["checkpoint_format"] == fmt
    assert report["config"]["size"] == list(SIZE)
    assert report["tensors_loaded"] > 100
    for key in ("mAP", "rank1", "mINP", "valid_queries"):
        assert report[key] == pytest.approx(expect[model][key], abs=1e-6)
    assert report["num_query"] == 2 and report["num_gallery"] == 6


def test_eval_table_with_rerank_and_flip(world):
    root = world[0]
    log.set_quiet(False)  # the loaded format and tensor count go to the log (stderr)
    result = eval_cli(root, root / "jvtc.pth", "--size", "64x32", "--rerank", "--flip")
    assert result.exit_code == 0, result.output
    assert "re-ranked" in result.stdout and "mINP" in result.stdout
    assert "loaded state_dict checkpoint: 127 tensors, 1 ignored" in result.output


def test_eval_help_mentions_cross_dataset():
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    assert "cross-dataset" in " ".join(result.output.split())


@pytest.mark.parametrize("file, message", [
    ("gen_00001000.pt", "no ResNet identity-encoder weights"),
    ("missing.pt", "checkpoint file not found"),
    ("corrupt.pt", "cannot read checkpoint"),
])
def test_eval_refuses_checkpoints_that_load_nothing(world, file, message):
    root = world[0]
    (root / "corrupt.pt").write_bytes(b"not a torch file")
    result = eval_cli(root, root / file, "--size", "64x32")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "".join(str(root / file).split()) in "".join(result.output.split())


def test_eval_bad_dataset_root_exits_2(world, tmp_path):
    result = runner.invoke(app, ["eval", "--dataset", "duke", "--data-root", str(tmp_path),
                                 "--checkpoint", str(world[0] / "jvtc.pth")])
    assert result.exit_code == 2 and "not a duke folder" in result.output


@pytest.mark.parametrize("stem", [ICE_STEM_RELU, ICE_STEM])
def test_ice_remap_with_and_without_relu_entry(world, tmp_path, stem):
    ice = world[2]
    torch.save({"state_dict": ice_state(ice, stem, classes=5)}, tmp_path / "ice.pth")
    loaded, info = load_identity_encoder(tmp_path / "ice.pth")
    assert info["format"] == "ice" and info["loaded"] == len(ice.state_dict())
    for key, value in ice.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_encoder_under_a_prefix_loads(world, tmp_path):
    model = world[1]
    wrapped = {f"id_a.{k}": v for k, v in model.state_dict().items()}
    wrapped["gen_a.dec.weight"] = torch.zeros(3)
    torch.save({"state_dict": wrapped}, tmp_path / "model_best.pth")
    loaded, info = load_identity_encoder(tmp_path / "model_best.pth")
    assert "id_a." in info["format"]
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_features_flip_average_and_batching(world):
    root, model = world[0], world[1]
    records = load_dataset("market", root / "market").gallery
    feats = extract_features(model, records, size=SIZE, batch_size=4, device="cpu", flip=True)
    assert feats.shape == (6, 512)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(6))
    from reidkit.data.image_dataset import ImageDataset
    from reidkit.data.transforms import test_transform as eval_transform

    images = torch.stack([ImageDataset(records, eval_transform(SIZE))[i][0] for i in range(6)])
    with torch.no_grad():
        manual = model(images)[1] + model(images.flip(3))[1]
    torch.testing.assert_close(feats, torch.nn.functional.normalize(manual, dim=1),
                               atol=1e-5, rtol=1e-5)
    single = extract_features(model, records, size=SIZE, batch_size=64, device="cpu", flip=True)
    torch.testing.assert_close(single, feats, atol=1e-5, rtol=1e-5)


def test_eval_table_prints_every_score_as_a_two_decimal_percentage(world):
    root = world[0]
    table = eval_cli(root, root / "jvtc.pth", "--size", "64x32", "--rerank")
    report = json.loads(eval_cli(root, root / "jvtc.pth", "--size", "64x32", "--rerank",
                                 "--json").stdout)
    assert table.exit_code == 0, table.output
    for label, scores in (("plain", report), ("re-ranked", report["rerank"])):
        (line,) = [ln for ln in table.stdout.splitlines() if f" {label} " in ln]
        cells = re.findall(r"\d+(?:\.\d+)?", line)
        assert all(re.fullmatch(r"\d+\.\d\d", c) for c in cells), line
        for cell, key in zip(cells, ("mAP", "rank1", "rank5", "rank10", "mINP"), strict=True):
            assert float(cell) == pytest.approx(100 * scores[key], abs=0.005)
    assert 0 <= report["mAP"] <= 1  # --json keeps fractions


def test_eval_show_ranks_writes_pictures(world, tmp_path):
    root = world[0]
    out = tmp_path / "ranks"
    result = eval_cli(root, root / "jvtc.pth", "--size", "64x32", "--show-ranks", "5",
                      "--show-ranks-worst", "--out-dir", str(out), "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)["rank_figures"]
    assert figures["worst_first"] and len(figures["files"]) == 2  # both queries are valid
    aps = [f["ap"] for f in figures["files"]]
    assert aps == sorted(aps)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        Path(f["file"]).name for f in figures["files"])
    for f in figures["files"]:
        assert Image.open(f["file"]).size[0] > 64


@pytest.mark.parametrize("args, message", [
    (["--show-ranks", "2"], "add --out-dir"),
    (["--show-ranks-worst"], "add --show-ranks N"),
    (["--show-ranks", "-1"], "--show-ranks must be 0 or more"),
])
def test_eval_show_ranks_bad_options_exit_2(world, args, message):
    root = world[0]
    result = eval_cli(root, root / "jvtc.pth", "--size", "64x32", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_eval_without_a_model_exits_2(world):
    root = world[0]
    result = runner.invoke(app, ["eval", "--dataset", "market", "--data-root",
                                 str(root / "market")])
    assert result.exit_code == 2
    assert "no model to evaluate" in result.output and "--onnx" in result.output
