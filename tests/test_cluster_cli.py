"""`reidkit cluster` end to end on a tiny Market tree with a random resnet18 E_id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import identity_crop, make_identity_market
from typer.testing import CliRunner

from reidkit.commands.app import app
from reidkit.models.identity import IdentityEncoder

runner = CliRunner()


@pytest.fixture(scope="module")
def market_tree(tmp_path_factory) -> Path:
    return make_identity_market(tmp_path_factory.mktemp("market"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "e_id.pth"
    torch.save(IdentityEncoder("resnet18").state_dict(), path)
    return path


def _invoke(market_tree: Path, checkpoint: Path, *extra: str):
    args = ["cluster", "--dataset", "market", "--data-root", str(market_tree), "--checkpoint",
            str(checkpoint), "--size", "64x32", "--device", "cpu", "--batch-size", "16", *extra]
    return runner.invoke(app, args)


def test_cluster_writes_labels_and_json(market_tree, checkpoint, tmp_path):
    out = tmp_path / "labels.csv"
    result = _invoke(market_tree, checkpoint, "--eps", "0.6", "--k1", "8", "--k2", "3",
                     "--min-samples", "2", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    lines = out.read_text().splitlines()
    assert lines[0] == "name,label" and len(lines) == 33 and data["images"] == 32
    names = sorted(p.name for p in (market_tree / "bounding_box_train").iterdir())
    assert sorted(line.split(",")[0] for line in lines[1:]) == names
    labels = np.array([int(line.split(",")[1]) for line in lines[1:]])
    assert data["clusters"] == len(set(labels) - {-1}) and data["outliers"] == (labels < 0).sum()
    assert data["eps"] == 0.6 and data["eps_rule"] == "fixed"
    assert "diagnostic (uses ground truth)" in data  # Market names carry true ids


def test_cluster_table_with_rho_and_temporal(market_tree, checkpoint, tmp_path):
    out = tmp_path / "t.csv"
    result = _invoke(market_tree, checkpoint, "--rho", "0.05", "--k1", "8", "--k2", "3",
                     "--min-samples", "2", "--temporal", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "pseudo labels (joint visual-temporal)" in result.stdout
    assert "rho=0.05" in result.stdout and "NMI (diagnostic" in result.stdout
    assert len(out.read_text().splitlines()) == 33


def test_cluster_jvtc_rule_equals_the_authors_dense_formula(market_tree, checkpoint, tmp_path):
    from test_cluster_bounded import dense_labels, dense_rerank, squared_euclidean
    from test_cluster_jaccard import reference_rho_eps

    from reidkit.data.datasets import load_dataset
    from reidkit.evaluation.features import extract_features
    from reidkit.models.loading import load_identity_encoder

    out = tmp_path / "jvtc.csv"
    result = _invoke(market_tree, checkpoint, "--rerank-lambda", "0.3", "--k1", "8", "--k2",
                     "3", "--min-samples", "1", "--rho", "0.05", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["distance"] == "re-ranked (λ 0.3)"
    records = load_dataset("market", market_tree).split("train")
    model, _ = load_identity_encoder(checkpoint)
    feats = extract_features(model, records, size=(64, 32), batch_size=16, device="cpu").numpy()
    final = dense_rerank(squared_euclidean(feats), k1=8, k2=3, lam=0.3)
    eps = reference_rho_eps(final, 0.05)
    assert data["eps"] == pytest.approx(eps, abs=1e-6)
    labels = {line.split(",")[0]: int(line.split(",")[1]) for line in out.read_text().split()[1:]}
    assert [labels[r.name] for r in records] == dense_labels(final, eps, 1).tolist()
    joint = _invoke(market_tree, checkpoint, "--rerank-lambda", "0.3", "--temporal", "--k1", "8",
                    "--k2", "3", "--min-samples", "1", "--rho", "0.05", "--out", str(out),
                    "--json")
    assert joint.exit_code == 0, joint.output
    assert json.loads(joint.stdout)["distance"].endswith("re-ranked joint (λ 0.5)")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--eps", "0.5", "--rho", "0.002"], "exclusive"),
        (["--eps", "-1"], "--eps must be positive"),
        (["--rho", "2"], "--rho must be in"),
        (["--k1", "0"], "--k1 must be at least 1"),
        (["--split", "validation"], "unknown split"),
        (["--rerank-lambda", "1.5"], "--rerank-lambda must be in [0, 1]"),
    ],
)
def test_bad_options_exit_2(market_tree, checkpoint, tmp_path, extra, message):
    out = tmp_path / "never.csv"
    result = _invoke(market_tree, checkpoint, *extra, "--out", str(out))
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_bad_paths_exit_2(market_tree, checkpoint, tmp_path):
    out = tmp_path / "never.csv"
    missing = _invoke(tmp_path / "nowhere", checkpoint, "--out", str(out))
    assert missing.exit_code == 2 and "error" in missing.output
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    bad_ckpt = _invoke(market_tree, junk, "--out", str(out))
    assert bad_ckpt.exit_code == 2 and "error" in bad_ckpt.output
    folder = tmp_path / "folder"
    for k in range(4):
        identity_crop(folder / "train" / f"{k:04d}_a.jpg", k, 0)
    temporal = runner.invoke(app, ["cluster", "--dataset", "folder", "--data-root", str(folder),
                                   "--checkpoint", str(checkpoint), "--temporal", "--out",
                                   str(out), "--device", "cpu", "--size", "64x32"])
    assert temporal.exit_code == 2 and "temporal" in temporal.output
    assert not out.exists()


def test_eval_temporal_protocol(market_tree, checkpoint):
    args = ["eval", "--dataset", "market", "--data-root", str(market_tree), "--checkpoint",
            str(checkpoint), "--size", "64x32", "--device", "cpu", "--temporal", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["temporal"]["fitted_on"] == "train pseudo labels"
    assert 0 <= data["mAP"] <= 1 and data["config"]["temporal"] is True
    table = runner.invoke(app, args[:-1])
    assert table.exit_code == 0 and "joint (JVTC+)" in table.stdout
