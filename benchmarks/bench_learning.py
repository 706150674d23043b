"""The paper's Table 3 in miniature: does GCL learn more than its warm-up, than more warm-up, and
than contrast without generation? One synthetic set and one budget per seed (the demo's default
preset, `reidkit.stages.demo.PRESETS`), every row from the same warm-up and the same gen-warmup:

    untrained · warm-up · warm-up continued for as many iterations as the joint stage (control)
    · contrast only (L_vi^woGAN) · the same with traditional augmentation · + L_gan only
    · + L_vi · + L'_vi · + L''_vi = full GCL · GCL with E_id's BatchNorm statistics updated by
    the generated images too (the authors' code; reidkit keeps them to the real images)

    python benchmarks/bench_learning.py [--seeds 0,1,2] [--out /tmp/bench-learning]
        [--rows all|name,name] [--csv docs/learning.csv] [--markdown table.md] [--device cpu]
        [--set field=value ...]   # another budget: override fields of the demo's preset

Prints one line per (seed, row) as it finishes, then mean ± std over seeds of mAP and R1 (%) and
the mean seconds per row; writes the per-seed rows as CSV. Test scores are reported only: they
choose nothing (the settings were fixed on a separate development seed, see docs/learning.md).
Re-running resumes: finished rows are read back from their checkpoints.
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from reidkit.data.datasets import load_dataset
from reidkit.data.image_dataset import ImageDataset
from reidkit.data.transforms import test_transform
from reidkit.device import tune_cpu_allocator
from reidkit.evaluation.engine import evaluate_features, scores_of
from reidkit.runs import load_stage, stage_path
from reidkit.stages.demo import (
    PRESETS,
    STAGES,
    DemoConfig,
    DemoPaths,
    demo_train_joint_config,
    demo_warmup_config,
    untrained_scores,
)
from reidkit.stages.eval import EvalConfig, run_eval
from reidkit.stages.train_joint import run_train_joint
from reidkit.stages.warmup import run_warmup

JOINT_ROWS: dict[str, dict[str, Any]] = {
    "contrast only (woGAN)": {"no_gan": True},
    "contrast only + augmentation": {"no_gan": True, "augment": True},
    "+ L_gan only": {"losses": ("gan",)},
    "+ L_vi": {"losses": ("gan", "vi")},
    "+ L'_vi": {"losses": ("gan", "vi", "vi1")},
    "+ L''_vi = GCL": {"losses": ("gan", "vi", "vi1", "vi2")},
    "GCL with BN statistics of every forward": {"bn_stats": "all"},
}
ROWS = ("untrained", "warm-up", "warm-up continued (control)", *JOINT_ROWS)


def raw_pixel_scores(data_root: Path, size: tuple[int, int]) -> dict[str, float]:
    """mAP/R1 of the normalised pixels themselves: how much the images alone give away."""
    dataset = load_dataset("market", data_root)

    def pixels(records: list) -> torch.Tensor:
        loader = DataLoader(ImageDataset(records, test_transform(size)), batch_size=256)
        return F.normalize(torch.cat([x.flatten(1) for x, _ in loader]), dim=1)

    result = evaluate_features(pixels(dataset.query), pixels(dataset.gallery), dataset.query,
                               dataset.gallery)
    return scores_of(result)


def _row_folder(base: DemoPaths, key: str) -> DemoPaths:
    """A run folder of its own for one row, holding copies of the shared checkpoints."""
    slug = "".join(c if c.isalnum() else "-" for c in key).strip("-")
    run = base.run.parent / "rows" / slug
    run.mkdir(parents=True, exist_ok=True)
    for stage in ("warmup", "gen-warmup"):
        if not stage_path(run, stage).is_file() and stage_path(base.run, stage).is_file():
            shutil.copy2(stage_path(base.run, stage), stage_path(run, stage))
    return dataclasses.replace(base, run=run)


def _control(preset: Any, base: DemoPaths, seed: int, device: str) -> dict[str, Any]:
    """The warm-up resumed for the joint stage's number of iterations (same batches per step)."""
    paths = _row_folder(base, "control")
    extra = preset.joint_epochs * preset.joint_iters / preset.warmup_iters
    if extra != int(extra):
        raise SystemExit("the control needs joint_epochs·joint_iters divisible by warmup_iters")
    epochs = preset.warmup_epochs + int(extra)
    state = load_stage(stage_path(paths.run, "warmup"), "warmup")
    if state["epoch"] < epochs:
        run_warmup(demo_warmup_config(preset, paths, seed, device, epochs=epochs))
    return _eval(paths, "warmup", device)


def _joint(preset: Any, base: DemoPaths, seed: int, device: str, key: str) -> dict[str, Any]:
    paths = _row_folder(base, key)
    path = stage_path(paths.run, "train-joint")
    if not path.is_file() or load_stage(path, "train-joint")["epoch"] < preset.joint_epochs:
        run_train_joint(demo_train_joint_config(preset, paths, seed, device, **JOINT_ROWS[key]))
    return _eval(paths, "train-joint", device)


def _eval(paths: DemoPaths, stage: str, device: str) -> dict[str, Any]:
    return scores_of(run_eval(EvalConfig(dataset="market", data_root=paths.data,
                                         checkpoint=stage_path(paths.run, stage), device=device)))


def run_seed(preset: Any, seed: int, out: Path, rows: list[str],
             device: str) -> list[dict[str, Any]]:
    """Every requested row for one seed: shared stages first, then one run per row."""
    config = DemoConfig(out=out / f"seed{seed}", seed=seed, device=device)
    base = DemoPaths.under(config.out)
    shared: dict[str, float] = {}
    for name, stage in STAGES[:4]:  # synth, mesh, warmup, gen-warmup
        began = time.perf_counter()
        stage(config, preset, base)
        shared[name] = time.perf_counter() - began
    history = load_stage(stage_path(base.run, "warmup"), "warmup")["extra"]["history"]
    pixels = raw_pixel_scores(base.data, preset.size)
    print(f"seed {seed}: raw pixels mAP {100 * pixels['mAP']:.1f}, first warm-up epoch "
          f"one-camera share {history[0].get('one_camera')}, clusters "
          f"{history[0].get('clusters')}", flush=True)
    results = []
    for row in rows:
        began = time.perf_counter()
        if row == "untrained":
            scores = scores_of(untrained_scores(preset, base, seed, device))
        elif row == "warm-up":
            scores = _eval(base, "warmup", device)
        elif row.startswith("warm-up continued"):
            scores = _control(preset, base, seed, device)
        else:
            scores = _joint(preset, base, seed, device, row)
        seconds = time.perf_counter() - began
        if row == "warm-up":
            seconds += shared["warmup"]
        record = {"seed": seed, "row": row, **scores, "seconds": round(seconds, 1),
                  "raw_pixels_mAP": pixels["mAP"], "one_camera_first": history[0].get("one_camera"),
                  "gen_warmup_seconds": round(shared["gen-warmup"], 1)}
        print(f"seed {seed} | {row}: mAP {100 * scores['mAP']:.1f} R1 "
              f"{100 * scores['rank1']:.1f} ({seconds:.0f} s)", flush=True)
        results.append(record)
    return results


def summary_table(records: list[dict[str, Any]], rows: list[str]) -> str:
    """Markdown: mean ± std over seeds of mAP and R1 (%), mean seconds per row."""
    lines = ["| row | mAP (%) | R1 (%) | seconds |", "|---|---|---|---|"]
    for row in rows:
        mine = [r for r in records if r["row"] == row]
        if not mine:
            continue
        cells = []
        for key in ("mAP", "rank1"):
            values = [100 * r[key] for r in mine]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f}")
        seconds = statistics.mean(r["seconds"] for r in mine)
        lines.append(f"| {row} | {cells[0]} | {cells[1]} | {seconds:.0f} |")
    return "\n".join(lines)


def _preset(assignments: list[str]) -> Any:
    """The demo's default preset with FIELD=VALUE overrides (values parsed as Python literals)."""
    preset = PRESETS["default"]
    changes = {}
    for item in assignments:
        name, _, value = item.partition("=")
        if name not in {f.name for f in dataclasses.fields(preset)}:
            raise SystemExit(f"unknown preset field {name}")
        changes[name] = ast.literal_eval(value)
    return dataclasses.replace(preset, **changes)


def main() -> None:
    """Run the miniature for every seed and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-learning"))
    parser.add_argument("--rows", default="all",
                        help="all, or comma-separated row names (no name holds a comma)")
    parser.add_argument("--csv", type=Path, help="write the per-seed rows here")
    parser.add_argument("--markdown", type=Path, help="write the summary table here")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override fields of the demo's default preset")
    args = parser.parse_args()
    preset = _preset(args.set)
    tune_cpu_allocator()
    rows = list(ROWS) if args.rows == "all" else [r.strip() for r in args.rows.split(",")]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {list(ROWS)}")
    records: list[dict[str, Any]] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        records += run_seed(preset, seed, args.out, rows, args.device)
    table = summary_table(records, rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    if args.csv:
        with args.csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)


if __name__ == "__main__":
    main()
