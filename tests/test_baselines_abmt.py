"""ABMT (`reidkit warmup --baseline abmt`): the cross-branch soft CE, the soft triplet and the
soft-margin triplet against hand-computed cases and per-sample loops, the teacher EMA under both
alpha rules, the dynamic classifiers (normalised cluster means of each branch's half), the
two-branch network's shapes, and end to end on tiny sets (UDA from a synthetic source to a
two-colour target, and fully unsupervised): checkpoint evaluated by `reidkit eval`, loaded by
gen-warmup, resume = uninterrupted."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import (
    TINY_PK,
    assert_same_models,
    interrupted_at,
    make_silhouette_meshes,
    make_two_colour_market,
    small_toml,
)
from torch.nn import functional as F
from typer.testing import CliRunner

from reidkit.baselines import abmt
from reidkit.baselines.abmt import ABMT, ABMTSource, check_abmt_config
from reidkit.baselines.abmt_losses import (
    ema_alpha,
    soft_cross_entropy,
    soft_margin_triplet,
    soft_triplet,
)
from reidkit.baselines.config import ABMTConfig
from reidkit.commands.app import app
from reidkit.data.records import ImageRecord
from reidkit.errors import ConfigError
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import (
    encoder_for_state,
    identity_encoder_from_state,
    load_identity_encoder,
)
from reidkit.models.two_branch import TwoBranchEncoder
from reidkit.runs import load_stage
from reidkit.stages import warmup as engine
from reidkit.stages.warmup import run_warmup, warmup_config

runner = CliRunner()
SIZE = (32, 16)
GAN_SIZE = (40, 40)  # the generator needs sides ≥ 40
SMALL = {
    **TINY_PK,
    "size": SIZE,
    "eps": 0.6,
    "min_samples": 2,
    "source_batch_size": 8,
    "source_instances": 2,
    "source_iters": 2,
}


# --- losses ------------------------------------------------------------------------------------
def test_soft_cross_entropy_hand_computed_and_teacher_is_a_fixed_target():
    """Teacher logits (0, log 3) → P = (1/4, 3/4); student logits (0, 0) → log P = log ½ each:
    −(¼ + ¾)·log ½ = log 2. Second row: student (log 3, 0) → log P = (log ¾, log ¼)."""
    teacher = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)]], requires_grad=True)
    student = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]], requires_grad=True)
    second = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    loss = soft_cross_entropy(student, teacher)
    assert loss.item() == pytest.approx((math.log(2) + second) / 2, rel=1e-6)
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


def test_soft_cross_entropy_matches_a_loop():
    gen = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    total = 0.0
    for s, t in zip(student.tolist(), teacher.tolist(), strict=True):
        z_s = math.log(sum(math.exp(v) for v in s))
        z_t = sum(math.exp(v) for v in t)
        total -= sum(math.exp(tv) / z_t * (sv - z_s) for sv, tv in zip(s, t, strict=True))
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(total / 5, rel=1e-5)


def _loop_soft_triplet(student: torch.Tensor, teacher: torch.Tensor, labels: list[int]) -> float:
    """Per anchor: hardest positive / negative by the student's distances, 2-way soft CE."""
    s, t = student.tolist(), teacher.tolist()

    def dist(rows, i, j):
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(rows[i], rows[j], strict=True)))

    total = 0.0
    for i, y in enumerate(labels):
        pos = max((j for j, z in enumerate(labels) if z == y), key=lambda j: dist(s, i, j))
        neg = min((j for j, z in enumerate(labels) if z != y), key=lambda j: dist(s, i, j))
        d_s = (dist(s, i, pos), dist(s, i, neg))
        d_t = (dist(t, i, pos), dist(t, i, neg))
        z_s = math.log(math.exp(d_s[0]) + math.exp(d_s[1]))
        z_t = math.exp(d_t[0]) + math.exp(d_t[1])
        total -= sum(math.exp(b) / z_t * (a - z_s) for a, b in zip(d_s, d_t, strict=True))
    return total / len(labels)


def test_soft_triplet_hand_computed():
    """1-D student (0, 1, 3, 4), labels (0, 0, 1, 1): anchor 0 mines p = 1, n = 2 (student
    d 1, 3), anchor 1 p = 0, n = 2 (1, 2), anchor 2 p = 3, n = 1 (1, 2), anchor 3 p = 2, n = 1
    (1, 3). The teacher (0, 2, 2, 5) has at those pairs (2, 2), (2, 0), (3, 0), (3, 3)."""
    student = torch.tensor([[0.0], [1.0], [3.0], [4.0]], requires_grad=True)
    teacher = torch.tensor([[0.0], [2.0], [2.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])

    def anchor(s_ap: float, s_an: float, t_ap: float, t_an: float) -> float:
        z = math.exp(t_ap) + math.exp(t_an)
        log_z = math.log(math.exp(s_ap) + math.exp(s_an))
        return -(math.exp(t_ap) / z * (s_ap - log_z) + math.exp(t_an) / z * (s_an - log_z))

    expected = (anchor(1, 3, 2, 2) + anchor(1, 2, 2, 0) + anchor(1, 2, 3, 0) + anchor(1, 3, 3, 3))
    loss = soft_triplet(student, teacher, labels)
    assert loss.item() == pytest.approx(expected / 4, rel=1e-6)
    loss.backward()
    assert student.grad.abs().sum() > 0


def test_soft_triplet_mines_on_the_student_and_matches_a_loop():
    gen = torch.Generator().manual_seed(2)
    student = torch.randn(8, 5, generator=gen)
    teacher = torch.randn(8, 5, generator=gen)  # its own hardest pairs differ from the student's
    labels = [0, 0, 1, 1, 2, 2, 3, 3]
    loss = soft_triplet(student, teacher, torch.tensor(labels))
    assert loss.item() == pytest.approx(_loop_soft_triplet(student, teacher, labels), rel=1e-5)
    swapped = soft_triplet(teacher, student, torch.tensor(labels)).item()
    assert swapped == pytest.approx(_loop_soft_triplet(teacher, student, labels), rel=1e-5)


def test_soft_margin_triplet_matches_a_loop():
    gen = torch.Generator().manual_seed(4)
    feats = torch.randn(6, 3, generator=gen)
    labels = [0, 1, 0, 2, 1, 2]
    d = torch.cdist(feats, feats).tolist()
    total = 0.0
    for i, y in enumerate(labels):
        ap = max(d[i][j] for j, z in enumerate(labels) if z == y)
        an = min(d[i][j] for j, z in enumerate(labels) if z != y)
        total += math.log(1 + math.exp(ap - an))
    loss = soft_margin_triplet(feats, torch.tensor(labels))
    assert loss.item() == pytest.approx(total / 6, rel=1e-5)


def test_ema_alpha_rules():
    assert [ema_alpha(t, 0.999) for t in (0, 1, 5000)] == [0.999] * 3
    ref = [ema_alpha(t, 0.999, "ref") for t in (0, 1, 2, 3, 998, 999, 5000)]
    assert ref == pytest.approx([0.0, 0.5, 2 / 3, 0.75, 998 / 999, 0.999, 0.999], abs=1e-12)


# --- the network -------------------------------------------------------------------------------
def test_two_branch_shapes_pooling_and_frozen_neck_biases():
    torch.manual_seed(0)
    net = TwoBranchEncoder("resnet18").eval()
    x = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        shared = net.shared_map(x)
        map_a, pooled_a, pooled_m, bn_a, bn_m = net.branches(x)
        map_m = net.extra_m(net.layer4_m(shared))
        f_id, f = net(x)
    assert map_a.shape == (3, 512, 4, 2)  # last stride 1: 64×32 / 16
    assert torch.allclose(pooled_a, map_a.mean(dim=(2, 3)), atol=1e-6)  # a: GAP
    assert torch.allclose(pooled_m, map_m.amax(dim=(2, 3)), atol=1e-6)  # m: GMP
    assert torch.allclose(f, torch.cat([bn_a, bn_m], 1))
    assert f_id.shape == (3, net.part_dim) == (3, 2048) and net.embed_dim == 1024
    assert torch.allclose(f_id, F.adaptive_avg_pool2d(map_a, (4, 1)).flatten(1))
    assert torch.allclose(net.embed(x).norm(dim=1), torch.ones(3))
    assert not net.feat_bn.bias.requires_grad and not net.feat_bn_m.bias.requires_grad
    assert len(net.layer4_m) == len(net.layer4) == 2  # resnet18: the m branch adds one block


def test_resnet50_branches_give_the_4096_d_test_feature():
    net = TwoBranchEncoder("resnet50").eval()
    extra = net.extra_m
    assert (extra.conv1.in_channels, extra.conv1.out_channels) == (2048, 512)
    assert (extra.conv3.in_channels, extra.conv3.out_channels) == (512, 2048)
    assert extra.downsample is None and len(net.layer4) == 3 and len(net.layer4_m) == 3
    assert net.layer4_m[0].conv2.stride == (1, 1)  # the copy keeps last stride 1
    with torch.no_grad():
        f_id, f = net(torch.randn(2, 3, 64, 32))
    assert f.shape == (2, 4096) and f_id.shape == (2, 8192)


def test_grown_encoder_shares_modules_and_reloads_from_its_keys():
    model = IdentityEncoder("resnet18", embed_dim=None)
    net = TwoBranchEncoder("resnet18", base=model)
    assert net.layer4 is model.layer4 and net.layer4_m is model.layer4_m
    assert set(net.state_dict()) == set(model.state_dict())  # the engine's E_id carries both
    assert torch.equal(net.layer4_m[0].conv1.weight, model.layer4[0].conv1.weight)  # a copy
    state = net.state_dict()
    assert isinstance(encoder_for_state(state), TwoBranchEncoder)
    rebuilt = identity_encoder_from_state(state).eval()
    x = torch.randn(2, 3, 32, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt.embed(x), net.eval().embed(x))
    with pytest.raises(ValueError, match="bnneck"):
        TwoBranchEncoder("resnet18", base=IdentityEncoder("resnet18"))


# --- the method --------------------------------------------------------------------------------
def _records(n: int) -> list[ImageRecord]:
    return [
        ImageRecord(Path(f"{i}.jpg"), f"{i}.jpg", pid=i // 2, camid=i % 2, split="train")
        for i in range(n)
    ]


def _method(monkeypatch, feats: torch.Tensor, labels: np.ndarray, **config) -> ABMT:
    """An ABMT whose teacher features and clustering are given (no images read)."""
    cfg = ABMTConfig(**{**SMALL, "batch_size": 4, **config})
    model = IdentityEncoder("resnet18", embed_dim=None)
    monkeypatch.setattr(abmt, "train_features", lambda *args: feats.clone())
    monkeypatch.setattr(abmt, "cluster", lambda *args: labels.copy())
    return ABMT(cfg, model, _records(len(labels)), torch.device("cpu"))


def test_dynamic_classifiers_are_normalised_cluster_means_of_each_half(monkeypatch):
    gen = torch.Generator().manual_seed(6)
    feats = F.normalize(torch.randn(7, 1024, generator=gen), dim=1)
    labels = np.array([0, 1, 0, -1, 2, 1, 2])
    method = _method(monkeypatch, feats, labels)
    stats = method.begin_epoch(0)
    assert (stats["clusters"], stats["outliers"]) == (3, 1)
    for branch, cols in (("a", slice(0, 512)), ("m", slice(512, 1024))):
        weight = method.classifiers[branch].weight
        assert weight.shape == (3, 512) and method.classifiers[branch].bias is None
        for c in range(3):
            members = [feats[i, cols] for i in range(7) if labels[i] == c]
            mean = sum(members) / len(members)
            assert torch.allclose(weight[c], mean / mean.norm(), atol=1e-6)
        assert torch.equal(method.teacher_classifiers[branch].weight, weight)
    trained = {id(p) for g in method.optimizer.param_groups for p in g["params"]}
    assert id(method.classifiers["a"].weight) in trained
    assert id(method.student.feat_bn_m.bias) not in trained  # frozen neck bias
    assert not any(id(p) in trained for p in method.teacher.parameters())


@pytest.mark.parametrize("variant", ["paper", "ref"])
def test_teacher_and_classifiers_follow_the_student_by_ema(monkeypatch, variant):
    feats = F.normalize(torch.randn(8, 1024), dim=1)
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    method = _method(monkeypatch, feats, labels, ema=0.9, ema_variant=variant)
    method.begin_epoch(0)
    assert all(
        torch.equal(t, s)
        for t, s in zip(method.teacher.parameters(), method.student.parameters(), strict=True)
    )  # eq. 4.3: θ'_0 = θ_0
    images = torch.randn(4, 3, *SIZE)
    for step, alpha in enumerate((0.0, 0.5) if variant == "ref" else (0.9, 0.9)):
        old = [p.clone() for p in method.teacher.parameters()]
        old_cls = method.teacher_classifiers["m"].weight.clone()
        terms = method.step(images, torch.tensor([0, 1, 2, 3]), 0)
        assert {"ce", "sce", "stri", "loss"} <= set(terms) and math.isfinite(terms["loss"])
        assert method.updates == step + 1
        pairs = zip(old, method.teacher.parameters(), method.student.parameters(), strict=True)
        for before, teacher, student in pairs:
            assert torch.allclose(teacher, alpha * before + (1 - alpha) * student, atol=1e-6)
        expected = alpha * old_cls + (1 - alpha) * method.classifiers["m"].weight
        assert torch.allclose(method.teacher_classifiers["m"].weight, expected, atol=1e-6)


def test_bad_settings_are_config_errors(monkeypatch):
    feats, labels = torch.eye(4), np.array([0, 0, 1, 1])
    for bad, match in (
        ({"ema_variant": "mine"}, "ema_variant"),
        ({"ema": 1.0}, "ema"),
        ({"head": "gcl"}, "own heads"),
        ({"batch_size": 2}, "triplets"),
        ({"lambda_sce": -1.0}, "weights"),
    ):
        with pytest.raises(ConfigError, match=match):
            check_abmt_config(ABMTConfig(**{**SMALL, **bad}))
    with pytest.raises(ConfigError, match="source_triplet_variant"):
        _method(monkeypatch, feats, labels, source_triplet_variant="x")


def test_source_stage_lr_schedule():
    cfg = ABMTConfig(**{**SMALL, "source_warmup_epochs": 10})
    model = IdentityEncoder("resnet18", embed_dim=None)
    method = ABMTSource(cfg, model, _records(8), torch.device("cpu"))
    factors = [method.lr_factor(e) for e in (0, 5, 10, 39, 40, 69, 70, 79)]
    assert factors == pytest.approx([0.01, 0.505, 1, 1, 0.1, 0.1, 0.01, 0.01])
    paper = ABMTSource(ABMTConfig(**SMALL), model, _records(8), torch.device("cpu"))
    assert [paper.lr_factor(e) for e in (0, 39, 40, 70)] == pytest.approx([1, 1, 0.1, 0.01])


# --- end to end --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """8 identities × 3 cameras with an identity-specific two-colour look, and its renders."""
    root = tmp_path_factory.mktemp("abmt_target")
    (root / "data").mkdir()
    data = make_two_colour_market(root / "data")
    make_silhouette_meshes(data, root / "mesh", size=GAN_SIZE)
    return data


def _config(source: Path | None, target: Path, out: Path, **extra):
    uda = {"source": "market", "source_root": source, "source_epochs": 1} if source else {}
    return warmup_config(
        None, dataset="market", data_root=target, out=out, baseline="abmt",
        **{**SMALL, **uda, **extra},
    )


@pytest.fixture(scope="module")
def uda_run(synth_root, target, tmp_path_factory) -> dict:
    """Source stage on the synthetic set (seed 0, camera gap 1), then 2 ABMT epochs on the
    two-colour target with the code's alpha rule."""
    out = tmp_path_factory.mktemp("abmt_uda") / "run"
    result = run_warmup(_config(synth_root, target, out, epochs=2, ema_variant="ref"))
    return {"out": out, "result": result}


def test_uda_checkpoint_is_the_teacher_evaluated_and_loaded_by_gen_warmup(uda_run, target):
    out, result = uda_run["out"], uda_run["result"]
    assert [h["phase"] for h in result["history"]] == ["source", "abmt", "abmt"]
    assert {"ce", "triplet"} <= set(result["history"][0])
    assert {"ce", "sce", "stri", "clusters"} <= set(result["metrics"])
    state = load_stage(out / "warmup.pt", expect="warmup")
    assert state["extra"]["state"]["updates"] == 4  # 2 epochs × 2 iterations
    teacher, student = state["models"]["E_id"], state["models"]["E_id_student"]
    assert any(not torch.equal(teacher[k], student[k]) for k in teacher)
    model, info = load_identity_encoder(out / "warmup.pt")  # eval's and gen-warmup's loader
    assert isinstance(model, TwoBranchEncoder) and info["embed_dim"] == 1024
    evaluated = runner.invoke(
        app,
        ["eval", "--dataset", "market", "--data-root", str(target), "--checkpoint",
         str(out / "warmup.pt"), "--device", "cpu", "--json"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["feature_dim"] == 1024
    gen = runner.invoke(
        app,
        ["gen-warmup", "--run", str(out), "--mesh-root", str(target.parent / "mesh"),
         "--batch-size", "2", "--iters-per-epoch", "1", "--epochs", "1", "--device", "cpu",
         "--sample-every", "0", "--size", "40x40", "--json"],
    )
    assert gen.exit_code == 0, gen.output
    handed = load_stage(out / "gen-warmup.pt")["models"]["E_id"]
    assert all(torch.equal(handed[k], v) for k, v in teacher.items())


@pytest.fixture(scope="module")
def short_run(synth_root, target, tmp_path_factory) -> Path:
    """The same UDA run stopped after its first ABMT epoch (source 1 + ABMT 1)."""
    out = tmp_path_factory.mktemp("abmt_short") / "run"
    run_warmup(_config(synth_root, target, out, epochs=1, ema_variant="ref"))
    return out


def _same_models(a: Path, b: Path) -> None:
    first, second = load_stage(a / "warmup.pt"), load_stage(b / "warmup.pt")
    assert set(first["models"]) == set(second["models"])
    assert_same_models(first, second, first["models"])
    assert first["extra"]["state"] == second["extra"]["state"]


def test_resume_gives_the_uninterrupted_state(uda_run, short_run, tmp_path):
    """Interrupted after the first ABMT epoch: teacher, student and the alpha-rule counter."""
    shutil.copytree(short_run, tmp_path / "moved")
    resumed = run_warmup(warmup_config(None, out=tmp_path / "moved", resume=True, epochs=2))
    _same_models(uda_run["out"], tmp_path / "moved")
    assert resumed["metrics"]["loss"] == uda_run["result"]["metrics"]["loss"]


def test_resume_after_the_source_stage(short_run, synth_root, target, tmp_path, monkeypatch):
    """Interrupted after stage 1: the m branch reaches stage 2 through the engine's E_id."""
    out = tmp_path / "cut"
    with interrupted_at(monkeypatch, engine, "save_stage", epoch=2):
        run_warmup(_config(synth_root, target, out, epochs=1, ema_variant="ref"))
    assert load_stage(out / "warmup.pt")["extra"]["phase"] == "source"
    run_warmup(warmup_config(None, out=out, resume=True))
    _same_models(short_run, out)


def test_fully_unsupervised_variant_runs(target, tmp_path):
    result = run_warmup(_config(None, target, tmp_path / "usl", epochs=1, eval_every=1))
    assert [h["phase"] for h in result["history"]] == ["abmt"]
    assert 0.0 <= result["metrics"]["test"]["mAP"] <= 1.0
    assert result["metrics"]["test"]["feature_dim"] == 1024


def test_cli_options_reach_the_config(target, tmp_path):
    args = ["warmup", "--dataset", "market", "--data-root", str(target), "--out",
            str(tmp_path / "cli"), "--baseline", "abmt", "--arch", "resnet18", "--pretrained",
            "none", "--size", "32x16", "--device", "cpu", "--workers", "0", "--epochs", "1",
            "--iters", "1", "--batch-size", "8", "--num-instances", "2", "--eps", "0.6",
            "--ema", "0.9", "--ema-variant", "ref", "--lambda-ce", "1", "--lambda-sce", "0.25",
            "--lambda-stri", "2", "--config", str(small_toml(tmp_path)), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = load_stage(tmp_path / "cli" / "warmup.pt")["config"]
    assert (cfg["ema"], cfg["ema_variant"], cfg["lambda_ce"]) == (0.9, "ref", 1.0)
    assert (cfg["lambda_sce"], cfg["lambda_stri"], cfg["rho"]) == (0.25, 2.0, None)
    bad_args = [str(tmp_path / "bad") if a == str(tmp_path / "cli") else a for a in args[:-3]]
    bad = runner.invoke(app, [*bad_args, "--ema-variant", "mine"])
    assert bad.exit_code == 2 and "ema_variant" in bad.output
