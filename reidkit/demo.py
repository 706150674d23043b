"""The whole GCL pipeline on a synthetic dataset, stage by stage, resuming where it stopped:
synth → mesh (ground-truth bodies) → warmup (jvtc) → gen-warmup → train-joint → eval (warm-up
vs joint) → generate → score-gen. It needs no dataset and no pretrained weights."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reidkit import log
from reidkit.baselines.config import JVTCConfig
from reidkit.baselines.engine import run_warmup
from reidkit.body.mesh_stage import MeshConfig, run_mesh
from reidkit.body.params import FILE_NAME
from reidkit.data.synth import SynthConfig, run_synth
from reidkit.evaluation.run import EvalConfig, run_eval
from reidkit.generate.run import GenerateConfig, run_generate
from reidkit.io import save_json
from reidkit.runs import load_stage, stage_path
from reidkit.scoring.engine import ScoreGenConfig, run_score_gen
from reidkit.scoring.inception import hub_weights_path
from reidkit.train.gen_warmup import GenWarmupConfig, run_gen_warmup
from reidkit.train.joint import TrainJointConfig, run_train_joint


@dataclass(frozen=True)
class DemoPreset:
    """Sizes and budgets of one demo flavour (`--quick` for CI, default for a first look)."""

    ids: int
    cameras: int
    images_per_id: int
    size: tuple[int, int]
    warmup_epochs: int
    warmup_iters: int
    gen_epochs: int
    gen_iters: int
    joint_epochs: int
    joint_iters: int
    generate_limit: int


PRESETS = {
    "quick": DemoPreset(ids=16, cameras=3, images_per_id=8, size=(96, 48), warmup_epochs=2,
                        warmup_iters=6, gen_epochs=1, gen_iters=6, joint_epochs=1, joint_iters=6,
                        generate_limit=16),
    "default": DemoPreset(ids=60, cameras=4, images_per_id=12, size=(128, 64), warmup_epochs=8,
                          warmup_iters=20, gen_epochs=3, gen_iters=25, joint_epochs=3,
                          joint_iters=20, generate_limit=64),
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
class _Paths:
    data: Path
    mesh: Path
    run: Path
    generated: Path

    @classmethod
    def under(cls, out: Path) -> _Paths:
        return cls(out / "data", out / "mesh", out / "run", out / "generated")


def _finished(run: Path, stage: str, epochs: int) -> bool:
    """True when the run folder already holds `stage` trained for `epochs` epochs."""
    path = stage_path(run, stage)
    return path.is_file() and load_stage(path, stage)["epoch"] >= epochs


def _synth(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    if (d.data / "synth.json").is_file():
        return {"skipped": "already generated"}
    return run_synth(SynthConfig(out=d.data, ids=p.ids, cameras=p.cameras,
                                 images_per_id=p.images_per_id, size=p.size, seed=c.seed))


def _mesh(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    return run_mesh(MeshConfig(dataset="market", data_root=d.data, out=d.mesh,
                               smpl_model="procedural", smpl_params=(d.data / FILE_NAME,),
                               size=p.size, device=c.device))


def _warmup(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    if _finished(d.run, "warmup", p.warmup_epochs):
        return {"skipped": "already trained"}
    return run_warmup(JVTCConfig(
        dataset="market", data_root=d.data, out=d.run, arch="resnet18", pretrained="none",
        epochs=p.warmup_epochs, iters=p.warmup_iters, batch_size=16, size=p.size,
        global_start=1, relabel_every=1, eps=0.6, rho=None, min_samples=2, device=c.device,
        seed=c.seed, resume=stage_path(d.run, "warmup").is_file(),
    ))


def _gen_warmup(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    if _finished(d.run, "gen-warmup", p.gen_epochs):
        return {"skipped": "already trained"}
    return run_gen_warmup(GenWarmupConfig(
        run=d.run, mesh_root=d.mesh, epochs=p.gen_epochs, iters_per_epoch=p.gen_iters,
        batch_size=8, device=c.device, seed=c.seed, sample_every=p.gen_iters,
        resume=stage_path(d.run, "gen-warmup").is_file(),
    ))


def _train_joint(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    if _finished(d.run, "train-joint", p.joint_epochs):
        return {"skipped": "already trained"}
    return run_train_joint(TrainJointConfig(
        run=d.run, epochs=p.joint_epochs, iters_per_epoch=p.joint_iters, batch_size=8,
        eps=0.6, min_samples=2, num_negatives=1024, device=c.device, seed=c.seed,
        resume=stage_path(d.run, "train-joint").is_file(),
    ))


def _evaluate(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    return {
        stage: run_eval(EvalConfig(dataset="market", data_root=d.data,
                                   checkpoint=stage_path(d.run, stage), device=c.device))
        for stage in ("warmup", "train-joint")
    }


def _generate(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    return run_generate(GenerateConfig(checkpoint=stage_path(d.run, "train-joint"),
                                       out=d.generated, limit=p.generate_limit, device=c.device))


def _score(c: DemoConfig, p: DemoPreset, d: _Paths) -> dict[str, Any]:
    weights = c.inception_weights or (hub_weights_path() if hub_weights_path().is_file() else None)
    return run_score_gen(ScoreGenConfig(
        real=d.data / "bounding_box_train", generated={"GCL (demo)": str(d.generated / "test")},
        real_row=True, inception_weights=weights, allow_untrained_inception=weights is None,
        device=c.device, cache_dir=c.out / "fid-cache", batch_size=16,
    ))


STAGES: list[tuple[str, Callable[[DemoConfig, DemoPreset, _Paths], dict[str, Any]]]] = [
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
    paths = _Paths.under(Path(config.out))
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
    summary = {
        "out": str(config.out),
        "preset": "quick" if config.quick else "default",
        "seconds": time.perf_counter() - start,
        "timings": timings,
        "eval": {k: _scores(v) for k, v in results["eval"].items()},
        "generation": results["score-gen"],
        "images": {
            "novel_view_sheets": results["generate"].get("sheets", []),
            "gen_warmup_samples": sorted(str(p) for p in (paths.run / "samples").glob("*.png")),
            "mesh_renders": str(paths.mesh / "train"),
        },
    }
    save_json(summary, Path(config.out) / "demo-results.json")
    return summary


def _scores(result: dict[str, Any]) -> dict[str, float]:
    return {k: result[k] for k in ("mAP", "rank1", "rank5", "rank10", "mINP")}
