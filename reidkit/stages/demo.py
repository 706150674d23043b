"""The whole GCL pipeline on a synthetic dataset, stage by stage, resuming where it stopped:
synth → mesh (ground-truth bodies) → warmup → gen-warmup → train-joint → eval (untrained vs
warm-up vs joint, and generated views as queries) → generate → score-gen. It needs no dataset
and no pretrained weights.

The stage settings are built by the `*_config` functions below from one `DemoPreset`, so that
`benchmarks/bench_learning.py` runs exactly the demo's miniature (and its ablation rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reidkit import log
from reidkit.baselines.config import WarmupConfig
from reidkit.data.datasets import load_dataset
from reidkit.errors import ConfigError
from reidkit.evaluation.engine import evaluate_model, scores_of
from reidkit.evaluation.novel_views import evaluate_generated_queries
from reidkit.io import save_json
from reidkit.runs import load_stage, stage_path
from reidkit.scoring.inception import hub_weights_path
from reidkit.stages.eval import EvalConfig, run_eval
from reidkit.stages.gen_warmup import GenWarmupConfig, run_gen_warmup
from reidkit.stages.generate import GenerateConfig, run_generate
from reidkit.stages.mesh import run_mesh, synth_mesh_config
from reidkit.stages.score_gen import ScoreGenConfig, run_score_gen
from reidkit.stages.synth import SynthConfig, run_synth
from reidkit.stages.train_joint import TrainJointConfig, run_train_joint
from reidkit.stages.warmup import initial_encoder, run_warmup, warmup_config


@dataclass(frozen=True)
class DemoPreset:
    """Data, sizes and budgets of one demo flavour (`--quick` for CI, default for a first look)."""

    ids: int
    cameras: int
    images_per_id: int
    size: tuple[int, int]
    camera_gap: float
    warmup_epochs: int
    warmup_iters: int
    warmup_eps: float  # DBSCAN radius of an ICE or CC warm-up (JVTC keeps its rho rule)
    gen_epochs: int
    gen_iters: int
    gen_lr: float
    joint_epochs: int
    joint_iters: int
    joint_eps: float
    lr_id: float
    generate_limit: int
    batch_size: int = 16  # warm-up and train-joint
    gen_batch_size: int = 8
    gen_d_dim: int = 32  # D's channel width in gen-warmup (train-joint reads it from there)
    show_ranks: int = 4  # ranked lists drawn with the final E_id
    warmup_baseline: str = "ice"  # or "cc", "jvtc": GCL on each in docs/warmup.md
    scene_base: str = "camera0"  # the cameras' shared scene: camera 0's draw or "neutral"


PRESETS = {
    "quick": DemoPreset(ids=16, cameras=3, images_per_id=8, size=(80, 40), camera_gap=0.0,
                        warmup_epochs=2, warmup_iters=6, warmup_eps=0.3, gen_epochs=1,
                        gen_iters=4, gen_lr=5e-4, joint_epochs=1, joint_iters=4, joint_eps=0.6,
                        lr_id=3.5e-4, generate_limit=16, batch_size=8, gen_batch_size=4),
    "default": DemoPreset(ids=100, cameras=4, images_per_id=16, size=(80, 40), camera_gap=0.0,
                          warmup_epochs=16, warmup_iters=50, warmup_eps=0.5, gen_epochs=6,
                          gen_iters=100, gen_lr=5e-4, joint_epochs=2, joint_iters=50,
                          joint_eps=0.35, lr_id=3.5e-4, generate_limit=64, gen_d_dim=16,
                          scene_base="neutral"),
}


@dataclass
class DemoConfig:
    """Options of `reidkit demo`."""

    out: Path = Path("demo-run")
    quick: bool = False
    device: str = "auto"
    seed: int = 0
    inception_weights: Path | None = None


@dataclass(frozen=True)
class DemoPaths:
    """Where each stage of one demo run writes."""

    data: Path
    mesh: Path
    run: Path
    generated: Path
    ranks: Path

    @classmethod
    def under(cls, out: Path) -> DemoPaths:
        """The standard layout below one output folder."""
        return cls(out / "data", out / "mesh", out / "run", out / "generated", out / "ranks")


def synth_config(p: DemoPreset, d: DemoPaths, seed: int) -> SynthConfig:
    """The demo's synthetic people (the seed changes identities, cameras and images)."""
    return SynthConfig(out=d.data, ids=p.ids, cameras=p.cameras, images_per_id=p.images_per_id,
                       size=p.size, seed=seed, camera_gap=p.camera_gap,
                       scene_base=p.scene_base)


def demo_warmup_config(p: DemoPreset, d: DemoPaths, seed: int, device: str,
                       epochs: int | None = None) -> WarmupConfig:
    """ICE (its EMA scaled to the run), Cluster-Contrast or JVTC (relabelling and the global
    term every epoch) from random resnet18 weights at the preset's batch (see docs/learning.md)."""
    epochs = epochs or p.warmup_epochs
    own: dict[str, dict[str, Any]] = {
        "ice": {"warmup_epochs": 0, "ema": 1 - 5 / (p.warmup_epochs * p.warmup_iters),
                "eps": p.warmup_eps},
        "cc": {"num_instances": 4, "eps": p.warmup_eps},
        "jvtc": {"global_start": 1, "relabel_every": 1},
    }
    if p.warmup_baseline not in own:
        raise ConfigError(f"the demo's warm-up is one of {', '.join(own)}, not "
                          f"{p.warmup_baseline!r}")
    return warmup_config(
        None, dataset="market", data_root=d.data, out=d.run, baseline=p.warmup_baseline,
        arch="resnet18", pretrained="none", epochs=epochs, iters=p.warmup_iters,
        batch_size=p.batch_size, size=p.size, device=device, seed=seed, workers=0,
        resume=stage_path(d.run, "warmup").is_file(), **own[p.warmup_baseline],
    )


def demo_gen_warmup_config(p: DemoPreset, d: DemoPaths, seed: int,
                           device: str) -> GenWarmupConfig:
    """The generator's warm-up with E_id frozen, at the demo's (raised) learning rate."""
    return GenWarmupConfig(run=d.run, mesh_root=d.mesh, epochs=p.gen_epochs,
                           iters_per_epoch=p.gen_iters, batch_size=p.gen_batch_size, lr=p.gen_lr,
                           d_dim=p.gen_d_dim,
                           device=device, seed=seed, sample_every=p.gen_iters, workers=0,
                           resume=stage_path(d.run, "gen-warmup").is_file())


def demo_train_joint_config(p: DemoPreset, d: DemoPaths, seed: int, device: str,
                            **overrides: Any) -> TrainJointConfig:
    """Joint training; `overrides` select the ablation rows of bench_learning."""
    settings: dict[str, Any] = dict(
        run=d.run, epochs=p.joint_epochs, iters_per_epoch=p.joint_iters,
        batch_size=p.batch_size, eps=p.joint_eps, num_negatives=1024, lr_id=p.lr_id,
        device=device, seed=seed, workers=0,
        resume=stage_path(d.run, "train-joint").is_file(),
    )
    return TrainJointConfig(**{**settings, **overrides})


def untrained_scores(p: DemoPreset, d: DemoPaths, seed: int, device: str) -> dict[str, Any]:
    """Test scores of E_id exactly as the warm-up starts it (same seed, same weights)."""
    model = initial_encoder(demo_warmup_config(p, d, seed, device))
    dataset = load_dataset("market", d.data)
    return evaluate_model(model, dataset, size=p.size, device=device)


def _finished(run: Path, stage: str, epochs: int) -> bool:
    """True when the run folder already holds `stage` trained for `epochs` epochs."""
    path = stage_path(run, stage)
    return path.is_file() and load_stage(path, stage)["epoch"] >= epochs


def _synth(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    if (d.data / "synth.json").is_file():
        return {"skipped": "already generated"}
    return run_synth(synth_config(p, d, c.seed))


def _mesh(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    return run_mesh(synth_mesh_config(d.data, d.mesh, size=p.size, device=c.device))


def _warmup(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    if _finished(d.run, "warmup", p.warmup_epochs):
        return {"skipped": "already trained"}
    return run_warmup(demo_warmup_config(p, d, c.seed, c.device))


def _gen_warmup(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    if _finished(d.run, "gen-warmup", p.gen_epochs):
        return {"skipped": "already trained"}
    return run_gen_warmup(demo_gen_warmup_config(p, d, c.seed, c.device))


def _train_joint(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    if _finished(d.run, "train-joint", p.joint_epochs):
        return {"skipped": "already trained"}
    return run_train_joint(demo_train_joint_config(p, d, c.seed, c.device))


def _evaluate(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    results = {"untrained": untrained_scores(p, d, c.seed, c.device)}
    for stage in ("warmup", "train-joint"):
        ranks = p.show_ranks if stage == "train-joint" else 0
        results[stage] = run_eval(EvalConfig(dataset="market", data_root=d.data,
                                             checkpoint=stage_path(d.run, stage),
                                             device=c.device, show_ranks=ranks,
                                             out_dir=d.ranks if ranks else None))
    results["generated-queries"] = evaluate_generated_queries(
        stage_path(d.run, "train-joint"), device=c.device)
    return results


def _generate(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    return run_generate(GenerateConfig(checkpoint=stage_path(d.run, "train-joint"),
                                       out=d.generated, limit=p.generate_limit, device=c.device))


def _score(c: DemoConfig, p: DemoPreset, d: DemoPaths) -> dict[str, Any]:
    weights = c.inception_weights or (hub_weights_path() if hub_weights_path().is_file() else None)
    return run_score_gen(ScoreGenConfig(
        real=d.data / "bounding_box_train", generated={"GCL (demo)": str(d.generated / "test")},
        real_row=True, inception_weights=weights, allow_untrained_inception=weights is None,
        device=c.device, cache_dir=c.out / "fid-cache", batch_size=16,
    ))


STAGES: list[tuple[str, Callable[[DemoConfig, DemoPreset, DemoPaths], dict[str, Any]]]] = [
    ("synth", _synth),
    ("mesh", _mesh),
    ("warmup", _warmup),
    ("gen-warmup", _gen_warmup),
    ("train-joint", _train_joint),
    ("eval", _evaluate),
    ("generate", _generate),
    ("score-gen", _score),
]


def run_demo(config: DemoConfig) -> dict[str, Any]:
    """Run (or resume) every stage into `config.out`; returns each stage's result and timings."""
    preset = PRESETS["quick" if config.quick else "default"]
    paths = DemoPaths.under(Path(config.out))
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for number, (name, stage) in enumerate(STAGES, 1):
        log.info(f"[bold]── stage {number}/{len(STAGES)}: {name}[/]")
        begin = time.perf_counter()
        results[name] = stage(config, preset, paths)
        timings[name] = time.perf_counter() - begin
        if "skipped" in results[name]:
            log.info(f"   {name}: {results[name]['skipped']} (delete {config.out} to redo)")
    evaluated = results["eval"]
    summary = {
        "out": str(config.out),
        "preset": "quick" if config.quick else "default",
        "seed": config.seed,
        "seconds": time.perf_counter() - start,
        "timings": timings,
        "eval": {k: scores_of(evaluated[k]) for k in ("untrained", "warmup", "train-joint")},
        "generated_queries": scores_of(evaluated["generated-queries"]["generated"]),
        "generation": results["score-gen"],
        "images": {
            "novel_view_sheets": results["generate"].get("sheets", []),
            "gen_warmup_samples": sorted(str(p) for p in (paths.run / "samples").glob("*.png")),
            "ranked_lists": [f["file"] for f in
                             evaluated["train-joint"].get("rank_figures", {}).get("files", [])],
            "mesh_renders": str(paths.mesh / "train"),
        },
    }
    save_json(summary, Path(config.out) / "demo-results.json")
    return summary

