"""ACT (`reidkit warmup --baseline act`): the small-loss selection and who trains on what at even
and odd steps against direct implementations, the keep-ratio schedule, outlier labels against a
brute-force loop, eps fixed after round 1, and end to end on two tiny synthetic domains (source
and target drawn with different seeds and camera gaps): the checkpoint is evaluated, rebuilt,
read by gen-warmup and trained on by train-joint, and a resume mid-round equals the
uninterrupted run."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import (
    TINY_PK,
    assert_same_models,
    make_domain,
    make_silhouette_meshes,
    resumed_warmup,
    small_toml,
)
from torch.nn import functional as F
from typer.testing import CliRunner

from reidkit.baselines import act
from reidkit.baselines.act import (
    ACT,
    assign_outliers,
    identity_pass,
    keep_ratio,
    ranked_mask,
    small_loss,
    trained_positions,
    triplet_per_sample,
)
from reidkit.baselines.config import ACTConfig
from reidkit.cluster.collect import Clustering
from reidkit.commands.app import app
from reidkit.data.records import ImageRecord
from reidkit.errors import ConfigError
from reidkit.models.act_net import ACTEncoder
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import identity_encoder_from_state, load_identity_encoder
from reidkit.runs import load_stage
from reidkit.stages.warmup import run_warmup, warmup_config

runner = CliRunner()
TINY = {**TINY_PK, "rho": 0.3, "min_samples": 3}


# --- the schedule and the selection -----------------------------------------------------------
def test_keep_ratio_grows_008_per_round_to_one():
    expected = [0.28, 0.36, 0.44, 0.52, 0.60, 0.68, 0.76, 0.84, 0.92, 1.0]
    assert [keep_ratio(n) for n in range(1, 11)] == pytest.approx(expected)
    assert keep_ratio(12) == 1.0  # capped
    assert keep_ratio(2, start=0.2, step=0.06) == pytest.approx(0.32)  # the K-means scripts'


def _by_hand_kept(losses: list[float], percent: int) -> list[int]:
    """The ⌊r·n⌋ smallest (r = percent/100, exact integer arithmetic), ties by position."""
    order = sorted(range(len(losses)), key=lambda i: (losses[i], i))
    return order[: percent * len(losses) // 100]


@pytest.mark.parametrize("percent", [28, 36, 52, 100])
def test_small_loss_keeps_the_floor_of_r_n_smallest(percent):
    gen = torch.Generator().manual_seed(percent)
    losses = torch.randint(0, 6, (25,), generator=gen).float()  # many ties
    kept = small_loss(losses, percent / 100)
    assert kept.tolist() == _by_hand_kept(losses.tolist(), percent)
    assert small_loss(torch.tensor([0.3, 0.1, 0.2]), 0.28).tolist() == []  # ⌊0.84⌋ = 0


def _direct_plan(inlier: list[bool], loss_a: list[float], loss_b: list[float], percent: int,
                 even: bool, mode: str) -> tuple[str, list[int]]:
    """Who learns and from which positions, written out step by step."""
    inliers = [i for i, v in enumerate(inlier) if v]
    outliers = [i for i, v in enumerate(inlier) if not v]
    if even:  # A ranks the inliers, B learns from the smallest-loss fraction
        scores = [loss_a[i] for i in inliers]
        return "B", [inliers[j] for j in _by_hand_kept(scores, percent)]
    if mode == "ct":  # B ranks the inliers, A learns from its fraction
        scores = [loss_b[i] for i in inliers]
        return "A", [inliers[j] for j in _by_hand_kept(scores, percent)]
    scores = [loss_b[i] for i in outliers]  # B ranks the outliers, A learns all inliers + those
    return "A", inliers + [outliers[j] for j in _by_hand_kept(scores, percent)]


@pytest.mark.parametrize("mode", ["act", "ct"])
@pytest.mark.parametrize("even", [True, False])
def test_who_trains_on_what_matches_a_direct_implementation(mode, even):
    gen = torch.Generator().manual_seed(7)
    inlier = torch.rand(20, generator=gen) < 0.6
    loss_a, loss_b = torch.rand(20, generator=gen), torch.rand(20, generator=gen)
    ranked = ranked_mask(inlier, even, mode)
    ranker_losses = (loss_a if even else loss_b)[ranked]  # the ranking network scores its group
    got = trained_positions(inlier, ranked, ranker_losses, 0.36, even, mode)
    learner, expected = _direct_plan(inlier.tolist(), loss_a.tolist(), loss_b.tolist(), 36, even,
                                     mode)
    assert got.tolist() == expected
    assert learner == ("B" if even else "A")


def _loop_triplet(feats: torch.Tensor, labels: list[int], margin: float) -> list[float]:
    out = []
    for i in range(len(labels)):
        d = [float((feats[i] - feats[j]).norm()) for j in range(len(labels))]
        pos = max(d[j] for j in range(len(labels)) if labels[j] == labels[i])
        neg = [d[j] for j in range(len(labels)) if labels[j] != labels[i]]
        out.append(max(0.0, pos - min(neg) + margin) if neg else 0.0)
    return out


def test_per_sample_triplet_matches_a_loop():
    gen = torch.Generator().manual_seed(2)
    feats = torch.randn(8, 5, generator=gen)
    labels = [0, 0, 1, 1, 2, 2, 2, 3]
    got = triplet_per_sample(feats, torch.tensor(labels), 0.5)
    assert got.tolist() == pytest.approx(_loop_triplet(feats, labels, 0.5), abs=1e-5)
    assert triplet_per_sample(feats[:2], torch.tensor([4, 4]), 0.5).tolist() == [0.0, 0.0]


def test_outliers_take_their_nearest_inliers_label():
    gen = torch.Generator().manual_seed(4)
    feats = torch.randn(30, 6, generator=gen) * torch.rand(30, 1, generator=gen) * 5
    labels = np.array([-1 if i % 3 == 0 else i % 4 for i in range(30)])
    got = assign_outliers(feats, labels, chunk=4)
    unit = F.normalize(feats, dim=1)
    for i in range(30):
        if labels[i] >= 0:
            assert got[i] == labels[i]
            continue
        dists = [(float((unit[i] - unit[j]).norm()), j) for j in range(30) if labels[j] >= 0]
        assert got[i] == labels[min(dists)[1]]
    assert (assign_outliers(feats, np.full(30, -1)) == -1).all()  # no inliers: unchanged


def test_identity_pass_takes_every_label_once_with_k_images():
    labels = np.array([0, 0, 0, 1, 2, 2, 2, 2, 3, 3])
    members = np.array([0, 1, 2, 3, 4, 5, 6, 7])  # label 3 is not among the members
    order = identity_pass(labels, members, 2, np.random.default_rng(0))
    chunks = order.reshape(-1, 2)
    assert sorted(labels[c[0]] for c in chunks) == [0, 1, 2]
    for chunk in chunks:
        assert len(set(labels[chunk])) == 1 and set(chunk) <= set(members)
        if labels[chunk[0]] != 1:
            assert chunk[0] != chunk[1]  # enough images: drawn without replacement
    assert (chunks[[labels[c[0]] == 1 for c in chunks]] == 3).all()  # one image: repeated


# --- the method on given features ---------------------------------------------------------------
def _records(n: int) -> list[ImageRecord]:
    return [ImageRecord(Path(f"{i}.jpg"), f"{i}.jpg", pid=i // 4, camid=i % 3, split="train")
            for i in range(n)]


def _method(monkeypatch, labels: np.ndarray, feats: torch.Tensor | None = None,
            **config) -> tuple[ACT, list[dict]]:
    """An ACT whose features and clustering are given; records the clustering calls."""
    calls: list[dict] = []
    feats = feats if feats is not None else torch.randn(len(labels), 8)

    def fake_cluster(x, **kwargs):
        calls.append(kwargs)
        return Clustering(np.array(labels), kwargs["eps"] or 0.42, *(np.zeros(0),) * 3, 0)

    monkeypatch.setattr(act, "train_features", lambda *args: feats.clone())
    monkeypatch.setattr(act, "rerank_cluster", fake_cluster)
    cfg = ACTConfig(**{**TINY, "round_epochs": 2, **config})
    model = IdentityEncoder("resnet18", embed_dim=None)
    return ACT(cfg, model, _records(len(labels)), torch.device("cpu")), calls


def test_eps_from_the_rho_rule_in_round_one_then_fixed(monkeypatch):
    labels = np.array([0, 0, 0, 1, 1, 1, -1, 2, 2, 2, 3, 3, 3, -1])
    method, calls = _method(monkeypatch, labels)
    stats = [method.begin_epoch(e) for e in range(5)]
    assert len(calls) == 3  # epochs 0, 2, 4: each round's first epoch
    assert (calls[0]["eps"], calls[0]["rho"]) == (None, 0.3)
    assert all((c["eps"], c["rho"]) == (0.42, None) for c in calls[1:])
    assert calls[0]["lambda_value"] == 0.1 and calls[0]["min_samples"] == 3
    assert [s["round"] for s in stats] == [1, 1, 2, 2, 3]
    assert [s["keep"] for s in stats] == pytest.approx([0.28, 0.28, 0.36, 0.36, 0.44])


def test_batches_pair_odd_inlier_batches_with_outliers(monkeypatch):
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, -1, -1, -1, -1])
    feats = torch.eye(16)
    feats[12:, :3] = 1.0  # the outliers sit next to identity 0's images
    method, _ = _method(monkeypatch, labels, feats, iters=4)
    method.begin_epoch(0)
    assert method.targets[12:].tolist() == [0, 0, 0, 0]
    batches = method.batches(0, np.random.default_rng(1))
    assert len(batches) == 4
    for i, batch in enumerate(batches):
        assert (labels[batch[:8]] >= 0).all() and len(set(labels[batch[:8]])) == 4
        assert (labels[batch[8:]] < 0).all() and len(batch) == (8 + 2 if i % 2 else 8)
    ct, _ = _method(monkeypatch, labels, feats, iters=4, co_teaching="ct")
    ct.begin_epoch(0)
    assert all(len(b) == 8 for b in ct.batches(0, np.random.default_rng(1)))
    with pytest.raises(ConfigError, match="fewer than the 8"):
        few, _ = _method(monkeypatch, labels, feats, batch_size=16)
        few.begin_epoch(0)
        few.batches(0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="co-teaching"):
        _method(monkeypatch, labels, feats, co_teaching="sym")


def _params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_steps_alternate_b_then_a_on_the_direct_selection(monkeypatch):
    """Even step: A scores the inliers, only B moves, on its ⌊r·n⌋ smallest; odd: B scores the
    outliers, only A moves, on all inliers + B's kept outliers."""
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4 + [-1] * 8)
    feats = torch.randn(24, 8)
    method, _ = _method(monkeypatch, labels, feats, keep_start=0.5, keep_step=0.0)
    method.begin_epoch(0)
    method.count = 0
    seen: list[tuple[int, list[int]]] = []
    losses = method.losses
    monkeypatch.setattr(method, "losses", lambda net, x, y: (
        seen.append((id(net), y.tolist())), losses(net, x, y))[1])
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(24, 3, 64, 32, generator=gen)
    inlier_idx, outlier_idx = torch.arange(8), torch.arange(16, 24)
    targets = method.targets

    def expected_kept(ranker, idx):
        with torch.no_grad():
            ranker = copy.deepcopy(ranker).train()
            x1, x2 = ranker.branches(images[idx])
        y = targets[idx].tolist()
        scores = [a + b for a, b in zip(_loop_triplet(x1, y, 0.5), _loop_triplet(x2, y, 0.5),
                                        strict=True)]
        return [idx[j].item() for j in _by_hand_kept(scores, 50)]

    a0, b0 = _params(method.net_a), _params(method.net_b)
    kept = expected_kept(method.net_a, inlier_idx)
    method.step(images[inlier_idx], inlier_idx, 0)
    assert seen[-1] == (id(method.net_b), targets[kept].tolist())
    assert all(torch.equal(p, q) for p, q in zip(a0, _params(method.net_a), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(b0, _params(method.net_b), strict=True))
    idx = torch.cat([torch.arange(8, 16), outlier_idx])
    kept = expected_kept(method.net_b, outlier_idx)
    b1 = _params(method.net_b)
    method.step(images[idx], idx, 0)
    assert seen[-1] == (id(method.net_a), targets[list(range(8, 16)) + kept].tolist())
    assert all(torch.equal(p, q) for p, q in zip(b1, _params(method.net_b), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a0, _params(method.net_a), strict=True))


def test_encoder_x1_is_the_retrieval_feature_at_standard_stride():
    net = ACTEncoder("resnet18").eval()
    x = torch.randn(2, 3, 64, 32)
    assert net.feature_map(x).shape[-2:] == (2, 1)  # /32: the standard last stride
    f_id, f = net(x)
    x1, x2 = net.branches(x)
    assert torch.allclose(f, x1) and torch.allclose(f, net.feature_map(x).mean((2, 3)))
    assert f_id.shape == (2, net.part_dim) and (x2 >= 0).all() and net.feat.bias is None
    assert net.embed_dim == 512
    rebuilt = identity_encoder_from_state(net.state_dict())
    assert isinstance(rebuilt, ACTEncoder) and int(rebuilt.last_stride) == 2


# --- end to end on two synthetic domains -----------------------------------------------------
@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("act_domains")
    return {"source": make_domain(root / "source", seed=11, camera_gap=0.3),
            "target": make_domain(root / "target", seed=12, camera_gap=1.0)}


def _config(domains: dict[str, Path], out: Path, **extra):
    return warmup_config(
        None, dataset="market", data_root=domains["target"], out=out, baseline="act",
        source="market", source_root=domains["source"], source_epochs=1, source_batch_size=8,
        source_iters=2, **{**TINY, "round_epochs": 2, **extra},
    )


def test_uda_end_to_end_checkpoint_is_evaluated_and_handed_on(domains, tmp_path):
    out = tmp_path / "act"
    result = run_warmup(_config(domains, out, epochs=1, eval_every=1))
    assert [h["phase"] for h in result["history"]] == ["source", "act"]
    metrics = result["metrics"]
    assert np.isfinite(metrics["loss"]) and metrics["clusters"] >= 4 and metrics["round"] == 1
    state = load_stage(out / "warmup.pt", expect="warmup")
    weights = state["models"]["E_id"]
    assert int(weights["last_stride"]) == 2 and weights["feat.weight"].shape == (512, 512)
    assert set(state["models"]) == {"E_id", "act_b"}
    rebuilt = identity_encoder_from_state(weights)  # train-joint's strict rebuild
    assert isinstance(rebuilt, ACTEncoder)
    model, info = load_identity_encoder(out / "warmup.pt")
    assert isinstance(model, ACTEncoder) and info["embed_dim"] == 512
    evaluated = runner.invoke(app, ["eval", "--dataset", "market", "--data-root",
                                    str(domains["target"]), "--checkpoint", str(out / "warmup.pt"),
                                    "--device", "cpu", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["mAP"] == pytest.approx(metrics["test"]["mAP"])
    mesh = make_silhouette_meshes(domains["target"], tmp_path / "mesh", size=(64, 40))
    gen = runner.invoke(app, ["gen-warmup", "--run", str(out), "--mesh-root", str(mesh),
                              "--size", "64x40", "--batch-size", "2", "--iters-per-epoch", "1",
                              "--epochs", "1",
                              "--device", "cpu", "--json"])
    assert gen.exit_code == 0, gen.output
    toml = tmp_path / "joint.toml"
    toml.write_text("k1 = 6\nk2 = 2\nmin_samples = 2\nworkers = 0\n")
    joint = runner.invoke(app, ["train-joint", "--run", str(out), "--epochs", "1",
                                "--iters-per-epoch", "1", "--batch-size", "2", "--eps", "0.6",
                                "--device", "cpu", "--config", str(toml), "--json"])
    assert joint.exit_code == 0, joint.output
    trained = load_stage(out / "train-joint.pt", "train-joint")["models"]["E_id"]
    assert int(trained["last_stride"]) == 2 and not torch.equal(trained["layer4.0.conv1.weight"],
                                                                weights["layer4.0.conv1.weight"])


def test_cli_options_reach_the_config(domains, tmp_path):
    out = tmp_path / "cli"
    args = ["warmup", "--dataset", "market", "--data-root", str(domains["target"]), "--out",
            str(out), "--baseline", "act", "--arch", "resnet18", "--pretrained", "none",
            "--size", "64x32", "--device", "cpu", "--workers", "0", "--epochs", "1",
            "--iters", "1", "--batch-size", "8", "--num-instances", "2", "--rho", "0.3",
            "--round-epochs", "5", "--co-teaching", "ct", "--config", str(small_toml(tmp_path, 3)),
            "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = load_stage(out / "warmup.pt", expect="warmup")["config"]
    assert (cfg["round_epochs"], cfg["co_teaching"], cfg["num_instances"]) == (5, "ct", 2)
    assert (cfg["lr"], cfg["act_margin"], cfg["rerank_lambda"]) == (6e-5, 0.5, 0.1)
    bad = runner.invoke(app, [*args[:-5], "--co-teaching", "both", "--overwrite"])
    assert bad.exit_code == 2 and "co-teaching" in bad.output
    foreign = runner.invoke(app, ["warmup", "--data-root", str(domains["target"]), "--out",
                                  str(tmp_path / "j"), "--baseline", "jvtc", "--round-epochs", "3"])
    assert foreign.exit_code == 2 and "round_epochs" in foreign.output


def test_resume_mid_round_gives_the_uninterrupted_state(domains, tmp_path):
    """Stopped after round 1's first epoch (mid-round), resumed through round 2's relabelling."""
    full, resumed, a, b = resumed_warmup(
        lambda out, epochs: _config(domains, out, epochs=epochs), tmp_path, 3)
    assert_same_models(a, b, ("E_id", "act_b"))
    assert torch.equal(a["extra"]["state"]["targets"], b["extra"]["state"]["targets"])
    assert [h["round"] for h in full["history"][1:]] == [1, 1, 2]
    eps = {h["eps"] for h in full["history"][1:]}
    assert len(eps) == 1 and math.isfinite(eps.pop())  # the rho rule's eps, kept in round 2
    assert [h["loss"] for h in full["history"]] == [h["loss"] for h in resumed["history"]]
