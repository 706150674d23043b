"""Cluster-Contrast (`reidkit warmup --baseline cc`): the centroid InfoNCE loss and the momentum
update against hand-computed cases and independent loops, centroids from clusters with the
outliers left out, GeM pooling carried through checkpoints, end to end on a tiny Market-layout
set (checkpoint evaluated), and resume = uninterrupted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import TINY_PK, assert_same_models, make_two_colour_market, resumed_warmup, small_toml
from torch.nn import functional as F
from typer.testing import CliRunner

from reidkit.baselines import cc
from reidkit.baselines.cc import ClusterContrast
from reidkit.baselines.config import CCConfig
from reidkit.baselines.losses import centroid_contrast_loss, centroid_update
from reidkit.commands.app import app
from reidkit.data.records import ImageRecord
from reidkit.errors import ConfigError
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import identity_encoder_from_state, load_identity_encoder
from reidkit.models.pooling import GeM
from reidkit.runs import load_stage, read_handoff
from reidkit.stages.warmup import run_warmup, warmup_config

runner = CliRunner()
SMALL = {**TINY_PK, "eps": 0.6, "min_samples": 2}


# --- the loss ----------------------------------------------------------------------------------
def test_centroid_loss_hand_computed():
    """f1 = (1, 0) of cluster 0 and f2 = (0, 1) of cluster 1 against c = (1, 0), (0, 1), (−1, 0)
    at τ 0.5: logits [2, 0, −2] and [0, 2, 0]."""
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    centroids = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 1])
    first = math.log(1 + math.exp(-2) + math.exp(-4))  # −2 + log(e² + e⁰ + e⁻²)
    second = math.log(1 + 2 * math.exp(-2))  # −2 + log(e⁰ + e² + e⁰)
    loss = centroid_contrast_loss(feats, labels, centroids, tau=0.5)
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_centroid_loss_matches_a_per_sample_loop_at_tau_005():
    gen = torch.Generator().manual_seed(3)
    feats = F.normalize(torch.randn(6, 5, generator=gen), dim=1).requires_grad_(True)
    centroids = F.normalize(torch.randn(4, 5, generator=gen), dim=1)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    loss = centroid_contrast_loss(feats, labels, centroids)
    terms = []
    for f, y in zip(feats.tolist(), labels.tolist(), strict=True):
        scores = [sum(a * b for a, b in zip(f, c, strict=True)) / 0.05 for c in centroids.tolist()]
        top = max(scores)
        terms.append(top + math.log(sum(math.exp(s - top) for s in scores)) - scores[y])
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    loss.backward()  # the gradient reaches the features, never the memory
    assert feats.grad is not None and feats.grad.abs().sum() > 0


# --- the momentum update -----------------------------------------------------------------------
def test_momentum_update_is_per_sample_in_batch_order():
    """m 0.5: c0 = (1, 0) takes x0 = (0, 1) then x2 = (1, 0) → (cos 22.5°, sin 22.5°) (the other
    order would give (cos 45°, sin 45°)); c1 = (0, 1) takes x1 = (−1, 0); c2 is not in the batch."""
    centroids = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    feats = torch.tensor([[0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    centroid_update(centroids, torch.tensor([0, 1, 0]), feats, 0.5)
    angle = math.pi / 8
    expected = torch.tensor(
        [[math.cos(angle), math.sin(angle)], [-(0.5**0.5), 0.5**0.5], [0.6, 0.8]]
    )
    assert torch.allclose(centroids, expected, atol=1e-6)


def test_hard_update_uses_the_least_similar_instance_once():
    centroids = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.6, 0.8]])
    # cluster 0: x0 (cos 1), x2 (cos 0: the hardest), x3 (cos 0.6); cluster 1: only x1
    centroid_update(centroids, torch.tensor([0, 1, 0, 0]), feats, 0.5, hard=True)
    expected = torch.tensor([[0.5**0.5, 0.5**0.5], [0.0, 1.0]])
    assert torch.allclose(centroids, expected, atol=1e-6)
    tied = torch.tensor([[1.0, 0.0]])
    centroid_update(tied, torch.tensor([0, 0]), torch.tensor([[0.0, 1.0], [0.0, -1.0]]), 0.5,
                    hard=True)
    assert torch.allclose(tied, torch.tensor([[0.5**0.5, 0.5**0.5]]), atol=1e-6)  # first wins


def test_momentum_update_matches_a_sequential_loop():
    gen = torch.Generator().manual_seed(5)
    centroids = F.normalize(torch.randn(5, 8, generator=gen), dim=1)
    feats = F.normalize(torch.randn(12, 8, generator=gen), dim=1)
    labels = torch.tensor([3, 0, 3, 3, 1, 0, 4, 3, 1, 0, 0, 3])
    expected = centroids.clone()
    for x, y in zip(feats, labels.tolist(), strict=True):
        expected[y] = 0.2 * expected[y] + 0.8 * x
        expected[y] /= expected[y].norm()
    centroid_update(centroids, labels, feats, 0.2)
    assert torch.allclose(centroids, expected, atol=1e-6)


# --- centroid initialisation and batches -----------------------------------------------------
def _method(monkeypatch, feats: torch.Tensor, labels: np.ndarray, **config) -> ClusterContrast:
    """A ClusterContrast whose features and clustering are given (no images read)."""
    records = [
        ImageRecord(Path(f"{i}.jpg"), f"{i}.jpg", pid=i, camid=i % 3, split="train")
        for i in range(len(labels))
    ]
    cfg = CCConfig(**{**SMALL, **config})
    model = IdentityEncoder("resnet18", embed_dim=None, pooling="gem")
    monkeypatch.setattr(cc, "train_features", lambda *args: feats.clone())
    monkeypatch.setattr(cc, "cluster", lambda *args: labels.copy())
    return ClusterContrast(cfg, model, records, torch.device("cpu"))


def test_centroids_are_normalised_cluster_means_without_outliers(monkeypatch):
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8], [0.8, -0.6]])
    labels = np.array([0, 0, -1, 1, 1])
    method = _method(monkeypatch, feats, labels)
    stats = method.begin_epoch(0)
    expected = torch.tensor([[0.5**0.5, 0.5**0.5], [1.4 / 2**0.5, 0.2 / 2**0.5]])
    assert torch.allclose(method.centroids, expected, atol=1e-6)  # the outlier (−1, 0) is out
    assert (stats["clusters"], stats["outliers"]) == (2, 1)
    assert method.model.feat_bn.bias.requires_grad is False  # the code's frozen BN-neck bias
    trained = {id(p) for group in method.optimizer.param_groups for p in group["params"]}
    assert id(method.model.feat_bn.bias) not in trained and id(method.model.pool.p) in trained


def test_batches_are_pk_over_clusters_and_refuse_too_few(monkeypatch):
    labels = np.array([0, 0, 0, 1, 1, -1, 2, 2, 2, -1, 3, 3])
    method = _method(monkeypatch, torch.eye(12), labels, batch_size=4, iters=5)
    method.begin_epoch(0)
    batches = method.batches(0, np.random.default_rng(0))
    assert len(batches) == 5
    for batch in batches:
        assert len(batch) == 4 and (labels[batch] >= 0).all()
        assert len(set(labels[batch].tolist())) == 2  # P = 4 // 2 pseudo identities
    few = _method(monkeypatch, torch.eye(12), labels, batch_size=16)  # P = 8 > 4 clusters
    few.begin_epoch(0)
    with pytest.raises(ConfigError, match="fewer than the 8"):
        few.batches(0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="temperature"):
        _method(monkeypatch, torch.eye(12), labels, temperature=0.0)


def test_lr_steps_tenfold_every_step_every_epochs(monkeypatch):
    method = _method(monkeypatch, torch.eye(4), np.array([0, 0, 1, 1]), step_every=20)
    assert [method.lr_factor(e) for e in (0, 19, 20, 39, 40, 49)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )


# --- GeM and checkpoints ----------------------------------------------------------------------
def test_gem_hand_computed_and_p1_is_average_pooling():
    x = torch.tensor([1.0, 8.0]).view(1, 1, 2, 1)
    assert GeM()(x).item() == pytest.approx(256.5 ** (1 / 3), rel=1e-6)  # ((1 + 512) / 2)^(1/3)
    y = torch.rand(2, 3, 4, 2) + 0.1
    assert torch.allclose(GeM(p=1.0)(y), F.adaptive_avg_pool2d(y, 1), atol=1e-6)


def test_authors_checkpoint_loads_with_gem(tmp_path):
    """Their layout: module.base.{0,1,4..7} for the stem and stages, module.gap.p, feat_bn."""
    original = IdentityEncoder("resnet18", embed_dim=None, pooling="gem").eval()
    with torch.no_grad():
        original.pool.p.fill_(2.5)
    names = {"conv1": "base.0", "bn1": "base.1", "layer1": "base.4", "layer2": "base.5",
             "layer3": "base.6", "layer4": "base.7", "pool": "gap", "feat_bn": "feat_bn"}
    state = {}
    for key, value in original.state_dict().items():
        head, rest = key.split(".", 1)
        state[f"module.{names[head]}.{rest}"] = value
    path = tmp_path / "model_best.pth.tar"
    torch.save({"state_dict": state, "epoch": 50, "best_mAP": 0.82}, path)
    model, info = load_identity_encoder(path)
    assert info["format"] == "ice" and model.pooling == "gem"
    assert model.pool.p.item() == pytest.approx(2.5)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.allclose(model.embed(x), original.embed(x), atol=1e-5)


# --- end to end ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_market(tmp_path_factory) -> Path:
    """8 identities × 3 cameras with an identity-specific two-colour look (Market names)."""
    return make_two_colour_market(tmp_path_factory.mktemp("tiny_market_cc"))


def _config(root: Path, out: Path, **extra):
    return warmup_config(
        None, dataset="market", data_root=root, out=out, baseline="cc", **{**SMALL, **extra}
    )


def test_end_to_end_checkpoint_is_evaluated_and_handed_on(tiny_market, tmp_path):
    out = tmp_path / "cc"
    result = run_warmup(_config(tiny_market, out, epochs=1, eval_every=1))
    state = load_stage(out / "warmup.pt", expect="warmup")
    assert read_handoff(state).baseline == "cc" and state["config"]["pooling"] == "gem"
    assert read_handoff(state).pooling == "gem"
    weights = state["models"]["E_id"]
    assert "feat.weight" not in weights and weights["feat_bn.weight"].shape == (512,)
    assert weights["pool.p"].item() != 3.0  # GeM's exponent trained (starts at 3)
    assert np.isfinite(result["metrics"]["loss"]) and result["metrics"]["clusters"] >= 4
    assert 0.0 <= result["metrics"]["test"]["mAP"] <= 1.0
    rebuilt = identity_encoder_from_state(weights)  # train-joint's strict rebuild
    assert rebuilt.pooling == "gem" and torch.equal(rebuilt.pool.p, weights["pool.p"])
    model, info = load_identity_encoder(out / "warmup.pt")  # eval's and gen-warmup's
    assert (model.pooling, info["embed_dim"]) == ("gem", 512)
    evaluated = runner.invoke(
        app,
        ["eval", "--dataset", "market", "--data-root", str(tiny_market), "--checkpoint",
         str(out / "warmup.pt"), "--device", "cpu", "--json"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["mAP"] == pytest.approx(result["metrics"]["test"]["mAP"])


def test_cli_options_reach_the_checkpoint_and_foreign_ones_are_refused(tiny_market, tmp_path):
    out = tmp_path / "cli"
    args = ["warmup", "--dataset", "market", "--data-root", str(tiny_market), "--out", str(out),
            "--baseline", "cc", "--arch", "resnet18", "--pretrained", "none", "--size", "64x32",
            "--device", "cpu", "--workers", "0", "--epochs", "1", "--iters", "1",
            "--batch-size", "8", "--num-instances", "2", "--eps", "0.6", "--pooling", "avg",
            "--temperature", "0.1", "--centroid-momentum", "0.3", "--hard-memory",
            "--config", str(small_toml(tmp_path)), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stored = load_stage(out / "warmup.pt", expect="warmup")
    cfg = stored["config"]
    assert (cfg["pooling"], cfg["temperature"], cfg["centroid_momentum"]) == ("avg", 0.1, 0.3)
    assert cfg["hard_memory"] is True and cfg["num_instances"] == 2
    assert "pool.p" not in stored["models"]["E_id"]
    foreign = runner.invoke(
        app, ["warmup", "--data-root", str(tiny_market), "--out", str(tmp_path / "j"),
              "--baseline", "jvtc", "--temperature", "0.1"]
    )
    assert foreign.exit_code == 2 and "temperature" in foreign.output
    bad = runner.invoke(app, [*args[:-3], "--pooling", "max"])
    assert bad.exit_code == 2 and "unknown pooling" in bad.output


def test_resume_gives_the_uninterrupted_state(tiny_market, tmp_path):
    """Across a learning-rate step (step_every 1) and with the centroid memory rebuilt."""
    full, resumed, a, b = resumed_warmup(
        lambda out, epochs: _config(tiny_market, out, epochs=epochs, step_every=1), tmp_path, 2)
    with pytest.raises(ConfigError, match="differs"):
        warmup_config(None, out=tmp_path / "part", resume=True, pooling="avg")
    assert_same_models(a, b)
    assert [h["lr"] for h in resumed["history"]] == pytest.approx([3.5e-4, 3.5e-5])
    assert full["metrics"]["loss"] == resumed["metrics"]["loss"]
    assert full["history"][1]["clusters"] == resumed["history"][1]["clusters"]
