"""`reidkit doctor`: a report of versions, GPU and weights that exits 0 even when things are
missing, and names where each missing file goes."""

from __future__ import annotations

import json
import platform
import sys

import torch
from typer.testing import CliRunner

from reidkit.commands.app import app

runner = CliRunner()


def doctor(*args):
    result = runner.invoke(app, ["doctor", "--json", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["environment"] + report["weights"]}
    return report, checks


def test_versions_and_gpu_are_this_interpreter(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    report, checks = doctor()
    assert report["python"] == platform.python_version()
    assert report["torch"] == torch.__version__
    assert report["cuda"]["available"] == torch.cuda.is_available()
    assert len(report["cuda"]["devices"]) == (torch.cuda.device_count()
                                              if torch.cuda.is_available() else 0)
    assert checks["CUDA"]["status"] == ("ok" if torch.cuda.is_available() else "none")
    try:
        import faiss
    except ImportError:
        assert checks["faiss"]["status"] == "missing"
    else:
        assert report["faiss"]["version"] == faiss.__version__
        assert report["faiss"]["gpu_build"] == hasattr(faiss, "StandardGpuResources")


def test_weights_found_in_the_hub_cache_and_missing_ones_explained(monkeypatch, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    resnet = tmp_path / "checkpoints" / "resnet50-0123abcd.pth"
    resnet.write_bytes(b"")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    report, checks = doctor()
    assert checks["ImageNet ResNet-50"] == {"name": "ImageNet ResNet-50", "status": "ok",
                                            "detail": str(resnet), "fix": ""}
    inception = checks["Inception (FID)"]
    assert inception["status"] == "missing"
    assert str(tmp_path / "checkpoints") in inception["fix"]
    assert "--inception-weights" in inception["fix"]
    assert checks["ImageNet ResNet-18"]["status"] == "missing"
    assert "Inception (FID)" in report["missing"] and "ImageNet ResNet-50" not in report["missing"]
    assert checks["SMPL body model"]["status"] == "not checked"
    assert "smpl.is.tue.mpg.de" in checks["SMPL body model"]["fix"]
    assert checks["procedural body (shipped)"]["status"] == "ok"


def test_given_files_are_checked_and_bad_ones_reported(tmp_path):
    bad = tmp_path / "model_checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    _, checks = doctor("--smpl-model", str(tmp_path / "nowhere.pkl"), "--hmr-checkpoint", str(bad))
    assert checks["SMPL body model"]["status"] == "unusable"
    assert checks["SPIN HMR checkpoint"]["status"] == "unusable"
    assert "cannot read HMR checkpoint" in checks["SPIN HMR checkpoint"]["detail"]
    _, checks = doctor("--smpl-model", "procedural")
    assert checks["SMPL body model"]["status"] == "ok"


def test_missing_optional_package_is_reported_not_fatal(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    _, checks = doctor()
    assert checks["onnxruntime"]["status"] == "missing"
    assert "pip install onnxruntime" in checks["onnxruntime"]["fix"]


def test_tensorboard_is_listed_with_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    _, checks = doctor()
    assert checks["tensorboard"]["status"] == "missing"
    assert ".[tensorboard]" in checks["tensorboard"]["fix"]


def test_table_lists_each_part_and_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0
    for name in ("Python", "torch", "CUDA", "faiss", "pytorch3d", "onnxruntime",
                 "ImageNet ResNet-50", "Inception (FID)", "SMPL body model"):
        assert name in result.stdout
    assert "Inception (FID): put pt_inception" in result.stdout
