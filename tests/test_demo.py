"""End to end: `reidkit demo --quick` runs every stage on CPU, writes every stage's output,
reports finite scores for E_id untrained, warmed up, jointly trained and on generated queries,
and resumes instead of redoing."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reidkit.baselines.config import CCConfig, ICEConfig, JVTCConfig
from reidkit.commands.app import app
from reidkit.errors import ConfigError
from reidkit.stages.demo import PRESETS, DemoConfig, DemoPaths, demo_warmup_config, run_demo


def test_quick_demo_runs_every_stage_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), "--device", "cpu",
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)

    assert len(list((out / "data" / "bounding_box_train").glob("*.jpg"))) > 0
    assert (out / "data" / "body_params.npz").is_file()
    for folder in ("render", "render_45", "render_315"):
        assert len(list((out / "mesh" / "train" / folder).glob("*.jpg"))) > 0
    checkpoints = {s: out / "run" / f"{s}.pt" for s in ("warmup", "gen-warmup", "train-joint")}
    assert all(p.is_file() for p in checkpoints.values())
    assert len(list((out / "generated" / "test" / "nv_90").glob("*.jpg"))) > 0
    assert summary["images"]["novel_view_sheets"]
    ranked = [Path(f) for f in summary["images"]["ranked_lists"]]
    assert len(ranked) == 4 and all(f.parent == out / "ranks" and f.is_file() for f in ranked)
    assert all((out / "run" / f"{s}-metrics.jsonl").is_file() for s in checkpoints)
    assert (out / "demo-results.json").is_file()

    assert set(summary["eval"]) == {"untrained", "warmup", "train-joint"}
    for scores in (*summary["eval"].values(), summary["generated_queries"]):
        assert set(scores) == {"mAP", "rank1", "rank5", "rank10", "mINP"}
        assert all(math.isfinite(v) and 0 <= v <= 1 for v in scores.values())
    assert summary["seed"] == 0
    generation = summary["generation"]
    assert generation["untrained"] and generation["marker"]  # no Inception weights in tests
    assert all(math.isfinite(row["fid"]) for row in generation["rows"])

    stamps = {s: p.stat().st_mtime_ns for s, p in checkpoints.items()}
    again = run_demo(DemoConfig(out=out, quick=True, device="cpu"))
    assert again["timings"]["warmup"] < summary["timings"]["warmup"]
    assert {s: p.stat().st_mtime_ns for s, p in checkpoints.items()} == stamps
    assert again["eval"] == summary["eval"]


def test_demo_warm_up_choices(tmp_path: Path) -> None:
    """Each warm-up the demo can run gets its own settings; anything else is refused."""
    paths = DemoPaths.under(tmp_path)
    quick = PRESETS["quick"]

    def config(name: str):
        return demo_warmup_config(dataclasses.replace(quick, warmup_baseline=name), paths, 0,
                                  "cpu")

    ice, cc, jvtc = config("ice"), config("cc"), config("jvtc")
    assert isinstance(ice, ICEConfig) and ice.eps == quick.warmup_eps and ice.rho is None
    assert ice.ema == 1 - 5 / (quick.warmup_epochs * quick.warmup_iters)
    assert isinstance(cc, CCConfig) and cc.num_instances == 4 and cc.eps == quick.warmup_eps
    assert isinstance(jvtc, JVTCConfig) and jvtc.relabel_every == 1 and jvtc.global_start == 1
    assert jvtc.eps is None and jvtc.rho is not None
    with pytest.raises(ConfigError, match="ice, cc, jvtc"):
        config("mmcl")
