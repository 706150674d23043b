"""`reidkit warmup --baseline supervised`: SCR's loss against a hand-computed case and an
independent loop, the single-branch loss (the UDA source one), SCR's schedule, augmentation and
P×K batches; end to end on a tiny Market-layout set with `--arch scr-resnet18` (checkpoint
evaluated, gen-warmup trains from it), the single-branch arch, resume = uninterrupted, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import TINY_WARMUP, assert_same_models, make_silhouette_meshes, make_two_colour_market
from torch.nn import functional as F
from torchvision import transforms as T
from typer.testing import CliRunner

from reidkit.baselines.config import SupervisedConfig
from reidkit.baselines.supervised import SCRClassifiers, Supervised, scr_loss
from reidkit.commands.app import app
from reidkit.data.records import ImageRecord
from reidkit.errors import ConfigError
from reidkit.models.generator import id_chunk_of
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import load_identity_encoder
from reidkit.models.scr import SCREncoder
from reidkit.runs import load_stage
from reidkit.stages.gen_warmup import GenWarmupConfig, run_gen_warmup
from reidkit.stages.warmup import run_warmup, warmup_config

runner = CliRunner()


# --- the losses --------------------------------------------------------------------------------
def test_scr_loss_hand_computed():
    """2 classifiers, 4 images of ids [0, 0, 1, 1], 2 one-dimensional global vectors, margin 1.2,
    λ 2. Classifier 1 scores [0, 0] (CE log 2 each), classifier 2 [ln 3, 0] (CE log 4/3 for id 0,
    log 4 for id 1). Global 1 = (0, 1, 3, 5): hardest positive / negative distances 1/3, 1/2,
    2/2, 2/4 → hinges 0, 0.2, 1.2, 0 → 0.35; global 2 = zeros: every hinge 1.2."""
    targets = torch.tensor([0, 0, 1, 1])
    logits = torch.stack([torch.zeros(4, 2), torch.tensor([[math.log(3), 0.0]]).repeat(4, 1)])
    globals_ = torch.tensor([[[0.0], [0.0]], [[1.0], [0.0]], [[3.0], [0.0]], [[5.0], [0.0]]])
    terms = scr_loss(logits, globals_, targets, margin=1.2, ce_weight=2.0)
    ce = (4 * math.log(2) + 2 * math.log(4 / 3) + 2 * math.log(4)) / 8
    triplet = (0.35 + 1.2) / 2
    assert terms["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert terms["triplet"].item() == pytest.approx(triplet, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(2 * ce + triplet, rel=1e-6)


def _records(pids: list[int]) -> list[ImageRecord]:
    return [ImageRecord(Path(f"{i}.jpg"), f"{i}.jpg", pid=p, camid=i % 2, split="train")
            for i, p in enumerate(pids)]


def _method(arch: str, pids: list[int], **config) -> Supervised:
    cfg = SupervisedConfig(**{"arch": arch, "size": (64, 32), "batch_size": 8, **config})
    torch.manual_seed(0)
    model = SCREncoder(arch) if arch.startswith("scr") else IdentityEncoder(arch)
    return Supervised(cfg, model, _records(pids), torch.device("cpu"))


def _triplet_loop(feats: torch.Tensor, labels: list[int], margin: float) -> float:
    hinges = []
    for i in range(len(labels)):
        dists = [float((feats[i] - feats[j]).norm()) for j in range(len(labels))]
        pos = max(d for d, y in zip(dists, labels, strict=True) if y == labels[i])
        neg = min(d for d, y in zip(dists, labels, strict=True) if y != labels[i])
        hinges.append(max(0.0, pos - neg + margin))
    return sum(hinges) / len(hinges)


def test_scr_method_loss_matches_13_classifiers_and_3_global_triplets():
    """Independently: 13 separate FCs, plain CE each, then the triplet on vectors 0, 1, 2 (p1, p2,
    p3 global, the first 768 dimensions of f)."""
    pids = [5, 5, 9, 9, 2, 2]
    method = _method("scr-resnet18", pids)
    with torch.no_grad():
        method.classifier.weight.normal_()
        method.classifier.bias.normal_()
    gen = torch.Generator().manual_seed(4)
    feats = torch.randn(6, 13 * 256, generator=gen)
    targets = torch.as_tensor(method.targets)
    terms = method.losses(feats, targets)
    vectors = feats.view(6, 13, 256)
    ces = [F.cross_entropy(vectors[:, k] @ method.classifier.weight[k].t()
                           + method.classifier.bias[k], targets) for k in range(13)]
    triplets = [_triplet_loop(vectors[:, k], targets.tolist(), 1.2) for k in range(3)]
    expected = 2 * sum(ces).item() / 13 + sum(triplets) / 3
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert method.classifier.weight.shape == (13, 3, 256)  # 3 training ids


def test_single_branch_loss_is_the_source_loss():
    """resnet18: smoothed CE (ε 0.1) over a bias-free linear classifier + batch-hard triplet."""
    method = _method("resnet18", [0, 0, 1, 1, 2, 2], triplet_margin=0.3)
    assert isinstance(method.classifier, torch.nn.Linear) and method.classifier.bias is None
    with torch.no_grad():
        method.classifier.weight.normal_()
    feats = torch.randn(6, 512, generator=torch.Generator().manual_seed(5))
    targets = torch.as_tensor(method.targets)
    log_p = F.log_softmax(feats @ method.classifier.weight.t(), dim=1)
    smooth = -(0.9 * log_p[torch.arange(6), targets] + 0.1 * log_p.mean(1)).mean()
    terms = method.losses(feats, targets)
    assert terms["ce"].item() == pytest.approx(smooth.item(), rel=1e-5)
    assert terms["triplet"].item() == pytest.approx(
        _triplet_loop(feats, targets.tolist(), 0.3), rel=1e-5)


def test_classifiers_equal_separate_linear_layers():
    heads = SCRClassifiers(3, 4, 5)
    vectors = torch.randn(2, 3, 4)
    logits = heads(vectors)
    for k in range(3):
        expected = F.linear(vectors[:, k], heads.weight[k], heads.bias[k])
        assert torch.allclose(logits[k], expected, atol=1e-6)


# --- schedule, augmentation, batches, refusals --------------------------------------------------
def test_defaults_are_scrs_paper_settings():
    """Thesis §3.4.1: 384×192, 8×4 batches, lr 2e-4 (÷10 at 300 and 400), 500 epochs, wd 5e-4,
    margin 1.2, λ 2; flip only (the code's erasing off)."""
    cfg = warmup_config(None, baseline="supervised")
    assert (cfg.arch, cfg.size, cfg.epochs, cfg.batch_size, cfg.num_instances) == (
        "scr", (384, 192), 500, 32, 4)
    assert (cfg.lr, cfg.lr_steps, cfg.lr_gamma, cfg.weight_decay, cfg.amsgrad) == (
        2e-4, (300, 400), 0.1, 5e-4, True)
    assert (cfg.triplet_margin, cfg.ce_weight, cfg.erasing, cfg.iters) == (1.2, 2.0, 0.0, 0)


def test_schedule_optimiser_and_flip_only_augmentation():
    method = _method("scr-resnet18", [0, 0, 1, 1])
    assert [method.set_epoch_lr(e) for e in (0, 299, 300, 399, 400, 499)] == pytest.approx(
        [2e-4, 2e-4, 2e-5, 2e-5, 2e-6, 2e-6])
    group = method.optimizer.param_groups[0]
    assert isinstance(method.optimizer, torch.optim.Adam)
    assert group["amsgrad"] is True and group["weight_decay"] == 5e-4
    trained = {id(p) for p in group["params"]}
    assert id(method.classifier.weight) in trained and id(method.model.feat[12].weight) in trained
    steps = [type(s) for s in method.transform().transforms]
    assert T.RandomHorizontalFlip in steps
    assert not {T.Pad, T.RandomCrop, T.RandomErasing} & set(steps)
    erasing = _method("scr-resnet18", [0, 0, 1, 1], erasing=0.5).transform().transforms[-1]
    assert isinstance(erasing, T.RandomErasing) and erasing.p == 0.5


def test_batches_are_pk_over_the_true_ids():
    pids = [7] * 5 + [3] * 4 + [1] * 6
    method = _method("resnet18", pids, batch_size=8, num_instances=4, iters=6)
    batches = method.batches(0, np.random.default_rng(0))
    assert len(batches) == 6
    for batch in batches:
        ids = np.asarray(pids)[batch]
        assert len(batch) == 8 and sorted(np.unique(ids, return_counts=True)[1]) == [4, 4]


@pytest.mark.parametrize(
    ("config", "message"),
    [({"erasing": 1.5}, "erasing must be in"),
     ({"batch_size": 4}, "fewer than 2 identities"),
     ({"lr_steps": (400, 300)}, "increasing")],
)
def test_bad_settings_are_refused(config, message):
    with pytest.raises(ConfigError, match=message):
        _method("resnet18", [0, 0, 1, 1], **config)


# --- end to end --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_market(tmp_path_factory) -> Path:
    """8 identities × 3 cameras with an identity-specific two-colour look (Market names)."""
    return make_two_colour_market(tmp_path_factory.mktemp("tiny_market_supervised"))


def _cli(root: Path, out: Path, *more: str) -> list[str]:
    return ["warmup", "--dataset", "market", "--data-root", str(root), "--out", str(out),
            "--baseline", "supervised", "--arch", "scr-resnet18", "--pretrained", "none",
            "--size", "64x32", "--device", "cpu", "--workers", "0", "--iters", "2",
            "--batch-size", "8", "--erasing", "0.5", *more]


@pytest.fixture(scope="module")
def scr_run(tiny_market, tmp_path_factory) -> dict:
    """Two epochs of SCR through the CLI, lr stepped after the first (lr_steps from the TOML)."""
    folder = tmp_path_factory.mktemp("scr_run")
    toml = folder / "steps.toml"
    toml.write_text("lr_steps = [1]\neval_batch_size = 32\n")
    out = folder / "full"
    result = runner.invoke(app, [*_cli(tiny_market, out, "--epochs", "2", "--eval-every", "2"),
                                 "--config", str(toml), "--json"])
    assert result.exit_code == 0, result.output
    return {"out": out, "toml": toml, "result": json.loads(result.stdout)}


def test_scr_end_to_end_checkpoint_is_evaluated(scr_run, tiny_market):
    out, result = scr_run["out"], scr_run["result"]
    state = load_stage(out / "warmup.pt", expect="warmup")
    cfg = state["config"]
    assert (cfg["baseline"], cfg["arch"], cfg["erasing"], cfg["lr_steps"]) == (
        "supervised", "scr-resnet18", 0.5, [1])
    assert set(state["models"]) == {"E_id", "classifier"}
    assert state["models"]["classifier"]["weight"].shape == (13, 8, 256)  # 8 training ids
    assert [h["lr"] for h in result["history"]] == pytest.approx([2e-4, 2e-5])
    metrics = result["metrics"]
    assert metrics["loss"] == pytest.approx(2 * metrics["ce"] + metrics["triplet"], rel=1e-5)
    assert metrics["test"]["feature_dim"] == 3328 and 0.0 <= metrics["test"]["mAP"] <= 1.0
    model, info = load_identity_encoder(out / "warmup.pt")
    assert isinstance(model, SCREncoder) and (info["arch"], info["embed_dim"]) == (
        "scr-resnet18", 3328)
    evaluated = runner.invoke(app, ["eval", "--dataset", "market", "--data-root", str(tiny_market),
                                    "--checkpoint", str(out / "warmup.pt"), "--device", "cpu",
                                    "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["mAP"] == pytest.approx(metrics["test"]["mAP"])


def test_gen_warmup_trains_from_an_scr_checkpoint(scr_run, tiny_market, tmp_path):
    """G is sized for p1's part code (4 × 512 channels with resnet18); E_id stays frozen."""
    mesh = make_silhouette_meshes(tiny_market, tmp_path / "mesh", size=(64, 40))
    run = scr_run["out"]
    run_gen_warmup(GenWarmupConfig(run=run, mesh_root=mesh, size=(64, 40), epochs=1,
                                   batch_size=2, iters_per_epoch=1, device="cpu",
                                   sample_every=0))
    gen = load_stage(run / "gen-warmup.pt")["models"]
    warm = load_stage(run / "warmup.pt")["models"]["E_id"]
    assert all(torch.equal(v, gen["E_id"][k]) for k, v in warm.items())
    assert set(gen["E_id"]) == set(warm) and {"G", "E_str", "D"} <= set(gen)
    assert id_chunk_of(gen["G"]) == 512


def test_resume_gives_the_uninterrupted_state(scr_run, tiny_market, tmp_path):
    """Interrupted after epoch 1 (before the lr step), resumed to 2: the same E_id, classifiers
    and optimiser moments as the straight run, bit for bit."""
    part = tmp_path / "part"
    first = runner.invoke(app, [*_cli(tiny_market, part, "--epochs", "1"),
                                "--config", str(scr_run["toml"])])
    assert first.exit_code == 0, first.output
    resumed = run_warmup(warmup_config(None, out=part, resume=True, epochs=2))
    a = load_stage(scr_run["out"] / "warmup.pt")
    b = load_stage(part / "warmup.pt")
    assert_same_models(a, b, ("E_id", "classifier"))
    moments_a = a["optimizers"]["E_id"]["state"]
    moments_b = b["optimizers"]["E_id"]["state"]
    assert all(torch.equal(moments_a[i]["max_exp_avg_sq"], moments_b[i]["max_exp_avg_sq"])
               for i in moments_a)
    assert resumed["history"][1]["loss"] == scr_run["result"]["history"][1]["loss"]


def test_single_branch_supervised_end_to_end(tiny_market, tmp_path):
    out = tmp_path / "r18"
    config = warmup_config(None, dataset="market", data_root=tiny_market, out=out,
                           baseline="supervised", **TINY_WARMUP, epochs=1, iters=2, batch_size=8,
                           eval_every=1)
    result = run_warmup(config)
    state = load_stage(out / "warmup.pt", expect="warmup")
    assert state["models"]["classifier"]["weight"].shape == (8, 512)
    assert "feat.weight" in state["models"]["E_id"]  # the GCL head: E_id as the other baselines
    metrics = result["metrics"]
    assert metrics["loss"] == pytest.approx(metrics["ce"] + metrics["triplet"], rel=1e-5)
    model, info = load_identity_encoder(out / "warmup.pt")
    assert isinstance(model, IdentityEncoder) and info["arch"] == "resnet18"


def test_scr_only_with_supervised_and_options_stay_with_their_baseline(tiny_market, tmp_path):
    common = {"dataset": "market", "data_root": tiny_market, **TINY_WARMUP, "arch": "scr"}
    with pytest.raises(ConfigError, match="only with --baseline supervised"):
        run_warmup(warmup_config(None, out=tmp_path / "a", baseline="cc", **common))
    with pytest.raises(ConfigError, match="without a UDA source"):
        run_warmup(warmup_config(None, out=tmp_path / "b", baseline="supervised", source="market",
                                 source_root=tiny_market, **common))
    foreign = runner.invoke(app, ["warmup", "--data-root", str(tiny_market), "--out",
                                  str(tmp_path / "c"), "--baseline", "jvtc", "--erasing", "0.5"])
    assert foreign.exit_code == 2 and "erasing" in foreign.output
