"""Learning guard of the default test run: a change that stops the demo's warm-up from learning
turns CI red. The demo's data at a smaller size and budget (100 people, cameras sharing one scene,
64×32 images), resnet18 from random weights, a short ICE warm-up at the demo's settings: its test
mAP must clearly beat the untrained E_id's (`benchmarks/bench_learning.py` measures the whole
miniature; the slow test below guards it)."""

from __future__ import annotations

import dataclasses

import pytest

from reidkit.data.datasets import load_dataset
from reidkit.evaluation.engine import evaluate_model
from reidkit.models.loading import load_identity_encoder
from reidkit.stages.demo import (
    PRESETS,
    DemoConfig,
    DemoPaths,
    demo_warmup_config,
    run_demo,
    synth_config,
)
from reidkit.stages.synth import run_synth
from reidkit.stages.warmup import initial_encoder, run_warmup

GUARD = dataclasses.replace(PRESETS["default"], size=(64, 32), warmup_epochs=3, warmup_iters=30)
SEED = 5


def test_short_ice_warmup_beats_the_untrained_encoder(tmp_path) -> None:
    paths = DemoPaths.under(tmp_path)
    run_synth(synth_config(GUARD, paths, SEED))
    dataset = load_dataset("market", paths.data)
    config = demo_warmup_config(GUARD, paths, SEED, "cpu")
    before = evaluate_model(initial_encoder(config), dataset, size=GUARD.size, device="cpu")
    run_warmup(config)
    model = load_identity_encoder(paths.run / "warmup.pt")[0]
    after = evaluate_model(model, dataset, size=GUARD.size, device="cpu")
    assert after["mAP"] >= before["mAP"] + 0.05, (before["mAP"], after["mAP"])
    assert after["mAP"] >= 1.3 * before["mAP"], (before["mAP"], after["mAP"])


@pytest.mark.slow
def test_demo_miniature_learns_at_every_stage(tmp_path) -> None:
    """The whole default demo for seed 0 (about 12 minutes on 2 cores). docs/learning.md measures
    28.0 → 87.8 → 91.5 % mAP (3.1×, +3.7 points) and generated queries at 0.77 of the real ones;
    the learning issue's targets are 3× and +2 points. The warm-up bound leaves room for the few
    points other CPUs' arithmetic moves it (docs/learning.md, finding 4)."""
    summary = run_demo(DemoConfig(out=tmp_path / "demo", device="cpu", seed=0))
    untrained, warmup, joint = (
        summary["eval"][k]["mAP"] for k in ("untrained", "warmup", "train-joint")
    )
    assert warmup >= 2.8 * untrained, (untrained, warmup)
    assert joint >= warmup + 0.02, (warmup, joint)
    assert summary["generated_queries"]["mAP"] >= 0.5 * joint, summary["generated_queries"]
