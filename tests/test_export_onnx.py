"""`reidkit export` (E_id → ONNX, checked against onnxruntime) and `reidkit eval --onnx` on a tiny
Market tree with a random resnet18 E_id."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from fixtures import make_market_run, write_image
from typer.testing import CliRunner

from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.evaluation.features import extract_features
from reidkit.evaluation.onnx_model import load_onnx_encoder
from reidkit.stages.export import ExportConfig, run_export

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
runner = CliRunner()
SIZE = (64, 32)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A dataset, a stage checkpoint of a random E_id, and its two exports (dynamic, batch 1)."""
    root = tmp_path_factory.mktemp("export")
    model = make_market_run(root, seed=2, size=SIZE)
    # one distinct image each: identical images tie exactly, and ties may break either way
    for seed, path in enumerate(sorted((root / "market").glob("*/*.jpg")), 100):
        write_image(path, seed)
    for name, extra in (("dynamic.onnx", ["--dynamic-batch"]), ("fixed.onnx", [])):
        result = runner.invoke(app, ["export", "--checkpoint", str(root / "run" / "warmup.pt"),
                                     "--out", str(root / name), "--json", *extra])
        assert result.exit_code == 0, result.output
    return root, model


def eval_json(root, *args):
    result = runner.invoke(app, ["eval", "--dataset", "market", "--data-root",
                                 str(root / "market"), "--device", "cpu", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_onnx_output_is_the_normalised_embedding(world):
    root, model = world
    session = ort.InferenceSession(str(root / "dynamic.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.shape[1:] == [3, *SIZE] and not isinstance(inp.shape[0], int)
    images = torch.randn(3, 3, *SIZE)
    got = session.run(None, {inp.name: images.numpy()})[0]
    with torch.no_grad():
        f = model(images)[1]
    expected = (f / f.norm(dim=1, keepdim=True)).numpy()  # written out, not through embed()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    fixed = ort.InferenceSession(str(root / "fixed.onnx"), providers=["CPUExecutionProvider"])
    assert fixed.get_inputs()[0].shape == [1, 3, *SIZE]


def test_export_size_option_and_report(world, tmp_path):
    root, _ = world
    result = runner.invoke(app, ["export", "--checkpoint", str(root / "run" / "warmup.pt"),
                                 "--out", str(tmp_path / "small.onnx"), "--size", "32x16",
                                 "--opset", "13", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input"]["shape"] == [1, 3, 32, 16] and report["opset"] == 13
    assert report["check"]["max_abs_diff"] < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.onnx"]


def test_failed_export_leaves_the_old_file(world, tmp_path, monkeypatch):
    root, _ = world
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous export")

    def broken(model, args, f, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        run_export(ExportConfig(checkpoint=root / "run" / "warmup.pt", out=out))
    assert out.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("args, message", [
    (["--opset", "7"], "--opset 7 is too old"),
    (["--out", "."], "is a directory"),
])
def test_export_bad_options_exit_2(world, args, message):
    root, _ = world
    result = runner.invoke(app, ["export", "--checkpoint", str(root / "run" / "warmup.pt"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_export_without_onnx_exits_2(world, tmp_path, monkeypatch):
    root, _ = world
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = runner.invoke(app, ["export", "--checkpoint", str(root / "run" / "warmup.pt"),
                                 "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2 and "onnx package is not installed" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_eval_onnx_matches_the_checkpoint(world):
    root, model = world
    data = load_dataset("market", root / "market")
    qf, gf = (extract_features(model, split, size=SIZE, device="cpu")
              for split in (data.query, data.gallery))
    rows = (2 - 2 * qf @ gf.T).sort(1).values
    assert (rows[:, 1:] - rows[:, :-1]).min() > 1e-6  # no near-tie for float noise to flip
    reference = eval_json(root, "--checkpoint", str(root / "run" / "warmup.pt"))
    for name in ("dynamic.onnx", "fixed.onnx"):  # fixed: fed one image at a time
        report = eval_json(root, "--onnx", str(root / name), "--batch-size", "4")
        assert report["checkpoint_format"] == "onnx" and report["config"]["size"] == list(SIZE)
        for key in ("mAP", "rank1", "rank5", "mINP", "valid_queries"):
            assert report[key] == pytest.approx(reference[key], abs=1e-6), (name, key)


@pytest.mark.parametrize("make, args, message", [
    (lambda r: r / "run" / "warmup.pt", [], "not an ONNX model"),
    (lambda r: r / "dynamic.onnx", ["--size", "32x16"], "does not match the ONNX model's input"),
    (lambda r: r / "missing.onnx", [], "ONNX model file not found"),
    (lambda r: r / "dynamic.onnx", ["--checkpoint", "x.pt"], "pass either --checkpoint"),
])
def test_eval_onnx_refuses_bad_input(world, make, args, message):
    root, _ = world
    result = runner.invoke(app, ["eval", "--dataset", "market", "--data-root",
                                 str(root / "market"), "--onnx", str(make(root)), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_eval_onnx_without_onnxruntime_exits_2(world, monkeypatch):
    root, _ = world
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = runner.invoke(app, ["eval", "--dataset", "market", "--data-root",
                                 str(root / "market"), "--onnx", str(root / "dynamic.onnx")])
    assert result.exit_code == 2
    assert "onnxruntime is not installed" in " ".join(result.output.split())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fixed_batch_model_gets_padded_batches(tmp_path):
    """A third-party model exported for batches of exactly 3 still sees any number of images."""
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten()).eval()
    torch.onnx.export(tiny, (torch.zeros(3, 3, 8, 4),), str(tmp_path / "tiny.onnx"),
                      dynamo=False, input_names=["x"], output_names=["y"])
    model, info = load_onnx_encoder(tmp_path / "tiny.onnx", torch.device("cpu"))
    assert model.fixed_batch == 3 and model.fixed_size == (8, 4) and info["embed_dim"] == 4
    images = torch.randn(5, 3, 8, 4)
    with torch.no_grad():
        np.testing.assert_allclose(model(images).numpy(), tiny(images).numpy(), atol=1e-5)
