"""DomainMix (`reidkit warmup --baseline domainmix`): the domain-balance and symmetric-KL losses
against hand-computed values, the cluster-size filter and the merged label space by hand, the
stage-3 schedule, the discriminator's shape, that each alternating step moves only its own
network, the classifier's start against an independent mean, and end to end on three tiny
synthetic domains (labelled source, unlabelled real set, unseen third set): the checkpoint is
evaluated on the third set, read by gen-warmup and cluster, and a resume equals the uninterrupted
run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import TINY_WARMUP, make_domain, make_silhouette_meshes
from typer.testing import CliRunner

from reidkit.baselines.config import DomainMixConfig, JVTCConfig
from reidkit.baselines.domainmix import (
    DomainMix,
    domain_balance,
    merge_labels,
    refine_labels,
    symmetric_kl_to_uniform,
)
from reidkit.baselines.jvtc import JVTC
from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.errors import ConfigError
from reidkit.models.domain_discriminator import DomainDiscriminator
from reidkit.models.identity import IdentityEncoder
from reidkit.runs import load_stage
from reidkit.stages.warmup import run_warmup, warmup_config

runner = CliRunner()
TINY = {**TINY_WARMUP, "batch_size": 8, "num_instances": 2, "iters": 2, "rho": 0.3,
        "eps": None, "min_samples": 2, "min_size": 2, "max_size": 0}


# --- losses, labels, schedule ------------------------------------------------------------------
def test_domain_balance_by_hand():
    uniform = torch.tensor([[0.5, 0.5]])
    assert domain_balance(uniform).item() == pytest.approx(1 - math.log(2))  # its minimum
    assert domain_balance(torch.tensor([[1.0, 0.0]])).item() == pytest.approx(1.0)  # 0·log 0 = 0
    skewed = 0.8 * math.log(0.8) + 0.2 * math.log(0.2) + 1.0
    both = torch.tensor([[0.8, 0.2], [0.5, 0.5]])
    assert domain_balance(both).item() == pytest.approx((skewed + 1 - math.log(2)) / 2)


def test_symmetric_kl_to_uniform_by_hand():
    assert symmetric_kl_to_uniform(torch.tensor([[0.5, 0.5]])).item() == pytest.approx(0.0,
                                                                                       abs=1e-7)
    p = [0.8, 0.2]
    kl_ph = sum(x * math.log(x / 0.5) for x in p)
    kl_hp = sum(0.5 * math.log(0.5 / x) for x in p)
    assert symmetric_kl_to_uniform(torch.tensor([p])).item() == pytest.approx(kl_ph + kl_hp)


def test_refine_drops_small_and_large_classes_and_renumbers():
    labels = np.array([3, 3, 3, 1, 1, -1, 7, 7, 7, 7, 7, 7, 5, 5, 5])
    # sizes: 3 → 3, 1 → 2, 7 → 6, 5 → 3; keep 3..5 images: classes 3 and 5 → 0 and 1
    assert refine_labels(labels, 3, 5).tolist() == [0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                    1, 1, 1]
    assert refine_labels(labels, 3, 0).tolist() == [0, 0, 0, -1, -1, -1, 2, 2, 2, 2, 2, 2,
                                                    1, 1, 1]  # no cap
    assert refine_labels(np.array([-1, -1]), 5, 120).tolist() == [-1, -1]


def test_merged_label_space_puts_real_classes_after_the_synthetic_ids():
    merged = merge_labels(np.array([0, 1, 1, 2]), np.array([-1, 0, 1, 0]))
    assert merged.tolist() == [0, 1, 1, 2, -1, 3, 4, 3]


def _method(tmp_path: Path, **extra) -> DomainMix:
    source = load_dataset("market", make_domain(tmp_path / "s", seed=21, camera_gap=0.3))
    target = load_dataset("market", make_domain(tmp_path / "t", seed=22, camera_gap=1.0))
    config = DomainMixConfig(source="market", source_root=tmp_path / "s", **{**TINY, **extra})
    torch.manual_seed(0)
    model = IdentityEncoder("resnet18", embed_dim=None)
    return DomainMix.for_data(config, model, target, source, torch.device("cpu"))


def test_stage_three_alternates_as_algorithm_one_or_as_the_code(tmp_path):
    method = _method(tmp_path, epochs=6, adversarial_start=2)
    assert [method.discriminator_turn(e) for e in range(6)] == [False, False, False, True, False,
                                                                True]
    method.config.alternate, method.config.d_every = "step", 3
    turns = []
    for _ in range(7):
        method.count += 1
        turns.append(method.discriminator_turn(4))
    assert turns == [True, False, False, True, False, False, True]
    method.count = 1
    assert not method.discriminator_turn(1)  # stage 2: never


def test_discriminator_layers_follow_the_paper():
    disc = DomainDiscriminator(2048)
    linears = [m for m in disc.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2048, 1024), (1024, 512),
                                                                  (512, 256), (256, 2)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in disc.modules()) == 3
    assert disc(torch.randn(4, 2048)).shape == (4, 2)


def test_classifier_starts_from_normalised_class_means(tmp_path):
    method = _method(tmp_path)
    method.begin_epoch(0)
    from reidkit.baselines.base import train_features

    feats = train_features(method.model, method.records, method.config, method.device)
    targets = method.targets.numpy()
    assert len(targets) == len(method.records) and (targets[: method.num_source] >= 0).all()
    for label in range(int(targets.max()) + 1):
        mean = feats[targets == label].mean(0)
        assert torch.allclose(method.classifier.weight[label], mean / mean.norm(), atol=1e-5)
    real = targets[method.num_source :]
    assert (real[real >= 0] > method.source_ids.max()).all()  # real classes after synthetic ids


def test_target_records_default_to_records_and_are_the_real_set_for_domainmix(tmp_path):
    method = _method(tmp_path)
    target = load_dataset("market", tmp_path / "t")
    assert len(method.records) == method.num_source + len(target.train)
    assert method.target_records != method.records
    assert [r.path for r in method.target_records] == [r.path for r in target.train]
    plain = JVTC.for_data(JVTCConfig(**TINY_WARMUP), IdentityEncoder("resnet18", embed_dim=None),
                          target, None, torch.device("cpu"))
    assert plain.target_records is plain.records


def _states(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def _changed(before: dict, net: torch.nn.Module) -> bool:
    return any(not torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_each_alternating_step_moves_only_its_own_network(tmp_path):
    method = _method(tmp_path, epochs=4, adversarial_start=1)
    method.begin_epoch(1)
    batch = method.batches(1, np.random.default_rng(0))[0]
    images = torch.randn(len(batch), 3, 64, 32)
    indices = torch.as_tensor(batch)
    backbone, disc = _states(method.model), _states(method.discriminator)
    terms = method.backbone_step(images, indices, epoch=1)
    assert "dm" in terms and _changed(backbone, method.model)
    assert not _changed(disc, method.discriminator)  # weights and BN statistics
    backbone, disc = _states(method.model), _states(method.discriminator)
    terms = method.discriminator_step(images, indices)
    assert not _changed(backbone, method.model) and _changed(disc, method.discriminator)
    assert 0.0 <= terms["d_acc"] <= 1.0 and terms["d_loss"] > 0
    direct = method.backbone_step(images, indices, epoch=0)  # stage 2: no L_dm
    assert "dm" not in direct


def test_directmix_trains_without_the_domain_loss(tmp_path):
    method = _method(tmp_path, epochs=4, adversarial_start=1, domain_loss="none")
    method.begin_epoch(1)
    batch = torch.as_tensor(method.batches(1, np.random.default_rng(0))[0])
    terms = method.backbone_step(torch.randn(len(batch), 3, 64, 32), batch, epoch=1)
    assert "dm" not in terms
    assert terms["loss"] == pytest.approx(10 * terms["id"] + terms["triplet"], rel=1e-5)


def test_refusals_name_the_option():
    for bad, word in ((dict(source=None), "--source"), (dict(domain_loss="mmd"), "domain-loss"),
                      (dict(relabel="never"), "relabel"), (dict(min_size=9, max_size=4),
                                                           "--max-size"),
                      (dict(adversarial_start=50), "adversarial")):
        config = DomainMixConfig(**{"source": "market", **bad})
        with pytest.raises(ConfigError) as err:
            DomainMix.check(config)
        assert word in str(err.value) + str(err.value.fix)


# --- end to end on three synthetic domains -----------------------------------------------------
@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("domainmix_domains")
    return {"source": make_domain(root / "synth", seed=31, camera_gap=0.3),
            "target": make_domain(root / "real", seed=32, camera_gap=1.0),
            "third": make_domain(root / "unseen", seed=33, camera_gap=0.6)}


def _config(domains: dict[str, Path], out: Path, **extra):
    return warmup_config(
        None, dataset="market", data_root=domains["target"], out=out, source="market",
        source_root=domains["source"], source_epochs=1, source_batch_size=8, source_iters=2,
        **{**TINY, "baseline": "domainmix", "epochs": 3, "adversarial_start": 1, **extra},
    )


def test_end_to_end_checkpoint_is_tested_on_the_unseen_set_and_handed_on(domains, tmp_path):
    out = tmp_path / "dm"
    result = run_warmup(_config(domains, out))
    history = result["history"]
    assert [h["phase"] for h in history] == ["source", "domainmix", "domainmix", "domainmix"]
    assert [h["stage"] for h in history[1:]] == [2, 3, 3]
    assert "dm" in history[2] and "d_acc" in history[3] and "id" not in history[3]
    assert history[1]["classes"] > 8 and "diagnostic_true_pids" in history[1]
    state = load_stage(out / "warmup.pt", expect="warmup")
    assert set(state["models"]) == {"E_id", "domainmix_classifier", "domain_discriminator"}
    assert state["handoff"]["baseline"] == "domainmix"
    tested = runner.invoke(app, ["eval", "--dataset", "market", "--data-root",
                                 str(domains["third"]), "--checkpoint", str(out / "warmup.pt"),
                                 "--device", "cpu", "--json"])
    assert tested.exit_code == 0, tested.output
    assert 0.0 < json.loads(tested.stdout)["mAP"] <= 1.0
    clustered = runner.invoke(app, ["cluster", "--dataset", "market", "--data-root",
                                    str(domains["target"]), "--checkpoint", str(out / "warmup.pt"),
                                    "--rho", "0.3", "--k1", "6", "--k2", "2", "--min-samples", "2",
                                    "--out", str(tmp_path / "labels.csv"), "--device", "cpu",
                                    "--json"])
    assert clustered.exit_code == 0, clustered.output
    assert (tmp_path / "labels.csv").read_text().count("\n") == 1 + 48  # header + real images
    mesh = make_silhouette_meshes(domains["target"], tmp_path / "mesh", size=(64, 40))
    gen = runner.invoke(app, ["gen-warmup", "--run", str(out), "--mesh-root", str(mesh),
                              "--size", "64x40", "--batch-size", "2", "--iters-per-epoch", "1",
                              "--epochs", "1", "--device", "cpu", "--json"])
    assert gen.exit_code == 0, gen.output


def test_resume_gives_the_uninterrupted_state(domains, tmp_path):
    """Stopped after stage 2, resumed through stage 3's backbone and discriminator epochs."""
    full = run_warmup(_config(domains, tmp_path / "full"))
    run_warmup(_config(domains, tmp_path / "part", epochs=1))
    shutil.copytree(tmp_path / "part", tmp_path / "moved")
    resumed = run_warmup(warmup_config(None, out=tmp_path / "moved", resume=True, epochs=3))
    a = load_stage(tmp_path / "full" / "warmup.pt")
    b = load_stage(tmp_path / "moved" / "warmup.pt")
    for name in ("E_id", "domainmix_classifier", "domain_discriminator"):
        for key, value in a["models"][name].items():
            assert torch.equal(value, b["models"][name][key]), (name, key)
    assert torch.equal(a["extra"]["state"]["labels"], b["extra"]["state"]["labels"])
    assert [h.get("loss") for h in full["history"]] == [h.get("loss") for h in resumed["history"]]


def test_cli_options_reach_the_config_and_bad_ones_exit_2(domains, tmp_path):
    out = tmp_path / "cli"
    toml = tmp_path / "small.toml"
    toml.write_text("k1 = 6\nk2 = 2\nmin_samples = 2\neval_batch_size = 32\nsource_batch_size = 8"
                    "\n")
    args = ["warmup", "--dataset", "market", "--data-root", str(domains["target"]), "--out",
            str(out), "--baseline", "domainmix", "--source", "market", "--source-root",
            str(domains["source"]), "--source-epochs", "0", "--arch", "resnet18",
            "--pretrained", "none", "--size", "64x32", "--device", "cpu", "--workers", "0",
            "--epochs", "1", "--iters", "1", "--batch-size", "8", "--num-instances", "2",
            "--rho", "0.3", "--min-size", "2", "--max-size", "0", "--domain-loss", "kl",
            "--relabel", "epoch", "--adversarial-start", "1", "--alternate", "step",
            "--lambda-dm", "0.5", "--config", str(toml), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = load_stage(out / "warmup.pt", expect="warmup")["config"]
    assert (cfg["domain_loss"], cfg["relabel"], cfg["alternate"]) == ("kl", "epoch", "step")
    assert (cfg["min_size"], cfg["max_size"], cfg["lambda_dm"], cfg["eps"]) == (2, 0, 0.5, None)
    no_source = runner.invoke(app, ["warmup", "--data-root", str(domains["target"]), "--out",
                                    str(tmp_path / "ns"), "--baseline", "domainmix"])
    assert no_source.exit_code == 2 and "--source" in no_source.output
    bad = runner.invoke(app, [*args[:-3], "--domain-loss", "mmd", "--overwrite"])
    assert bad.exit_code == 2 and "domain-loss" in bad.output
    assert load_stage(out / "warmup.pt", expect="warmup")["config"]["domain_loss"] == "kl"


def test_method_settings_are_refused_before_the_source_phase_runs(domains, tmp_path):
    """A bad ACT or DomainMix option stops the run at once, not after the UDA source epochs."""
    act_only = {k: v for k, v in TINY.items() if k not in ("min_size", "max_size")}
    configs = {
        "act": warmup_config(None, dataset="market", data_root=domains["target"],
                             out=tmp_path / "act", baseline="act", source="market",
                             source_root=domains["source"], source_epochs=1, source_iters=2,
                             source_batch_size=8, co_teaching="both", **act_only),
        "domainmix": _config(domains, tmp_path / "domainmix", relabel="never"),
    }
    for name, config in configs.items():
        with pytest.raises(ConfigError) as err:
            run_warmup(config)
        assert ("both" if name == "act" else "never") in str(err.value)
        assert not (tmp_path / name / "warmup.pt").exists()
