"""gen-warmup learns, checkpoints and resumes exactly; generate writes the mesh layout
deterministically; bad inputs exit with code 2. Tiny data (40×40 crops, resnet18, batch 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fixtures import interrupted_at, make_silhouette_market, make_silhouette_meshes, make_warmup
from PIL import Image
from typer.testing import CliRunner

from reidkit import metrics_log
from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.data.mesh_pairs import ANGLES, MeshPairDataset
from reidkit.errors import DatasetError
from reidkit.models.identity import IdentityEncoder
from reidkit.runs import load_stage
from reidkit.stages import gen_warmup
from reidkit.stages.gen_warmup import (
    GenWarmupConfig,
    _prepare_models,
    build_gan,
    build_optimizers,
    run_gen_warmup,
)
from reidkit.train.gan import gan_step

SIZE = (40, 40)
FAST = ["--batch-size", "2", "--iters-per-epoch", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    data = make_silhouette_market(root / "market", size=SIZE)
    mesh = make_silhouette_meshes(data, root / "mesh", size=SIZE)
    run = root / "run"
    make_warmup(run, data, size=SIZE)
    return {"data": data, "mesh": mesh, "run": run, "root": root}


@pytest.fixture(scope="module")
def trained(tiny):
    """One epoch through the CLI, then --resume to a second epoch."""
    runner = CliRunner()
    base = ["gen-warmup", "--run", str(tiny["run"]), "--mesh-root", str(tiny["mesh"]), *FAST]
    first = runner.invoke(app, [*base, "--epochs", "1", "--sample-every", "1", "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*base, "--epochs", "2", "--resume", "--json"])
    assert second.exit_code == 0, second.output
    return {"first": json.loads(first.stdout), "second": json.loads(second.stdout), **tiny}


def _batch(tiny, n=2):
    ds = load_dataset("market", tiny["data"])
    data = MeshPairDataset(ds.train, tiny["mesh"], size=SIZE)
    torch.manual_seed(3)
    items = [data[i] for i in range(n)]
    return [torch.stack([it[k] for it in items]) for k in range(3)]


def _overfit(tiny, steps: int, lr: float) -> tuple[float, float]:
    torch.manual_seed(0)
    models = build_gan(IdentityEncoder("resnet18"))
    _prepare_models(models, torch.device("cpu"), False)
    opts = build_optimizers(models, GenWarmupConfig(lr=lr))
    batch = _batch(tiny)
    rec = [gan_step(models, opts["gen"], opts["dis"], batch)[0]["l_rec"] for _ in range(steps)]
    return rec[0], min(rec[-3:])


def test_loop_learns_to_reconstruct(tiny):
    start, end = _overfit(tiny, steps=8, lr=5e-4)
    assert end < 0.8 * start


@pytest.mark.slow
def test_loop_overfits_a_tiny_set(tiny):
    start, end = _overfit(tiny, steps=300, lr=1e-4)
    assert end < 0.3 * start


def test_gen_warmup_checkpoint_and_samples(trained):
    state = load_stage(trained["run"] / "gen-warmup.pt", "gen-warmup")
    assert set(state["models"]) == {"E_id", "E_str", "G", "D"}
    cfg = state["config"]
    assert cfg["dataset"] == "market" and cfg["arch"] == "resnet18" and cfg["size"] == list(SIZE)
    assert Path(cfg["mesh_root"]) == trained["mesh"] and Path(cfg["data_root"]) == trained["data"]
    assert state["epoch"] == 2 and state["iteration"] == 2
    assert set(state["optimizers"]) == {"gen", "dis"} and "rng" in state["extra"]
    # E_id stayed frozen: identical to the warm-up weights.
    warm = load_stage(trained["run"] / "warmup.pt")["models"]["E_id"]
    assert all(torch.equal(warm[k], v) for k, v in state["models"]["E_id"].items())
    samples = trained["first"]["samples"]
    assert samples and Path(samples[0]).is_file()
    assert {"l_rec", "l_cyc", "l_feat", "l_adv", "d_loss"} <= set(trained["second"]["final"])


def test_resume_reproduces_the_uninterrupted_run(trained, tmp_path):
    run = tmp_path / "straight"
    make_warmup(run, trained["data"], size=SIZE)
    cfg = GenWarmupConfig(run=run, mesh_root=trained["mesh"], epochs=2, batch_size=2,
                          iters_per_epoch=1, device="cpu", sample_every=0)
    run_gen_warmup(cfg)
    straight = load_stage(run / "gen-warmup.pt")["models"]
    resumed = load_stage(trained["run"] / "gen-warmup.pt")["models"]
    for name in ("E_str", "G", "D"):
        for key, value in straight[name].items():
            assert torch.equal(value, resumed[name][key]), (name, key)


def test_metrics_lines_after_an_interrupted_then_resumed_run(tiny, tmp_path, monkeypatch):
    """Epoch 2 is logged, then the run dies before its checkpoint: the resume logs it once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setattr(metrics_log, "STEP_EVERY", 1)
    run = tmp_path / "run"
    make_warmup(run, tiny["data"], size=SIZE)
    cfg = GenWarmupConfig(run=run, mesh_root=tiny["mesh"], epochs=2, batch_size=2,
                          iters_per_epoch=2, device="cpu", sample_every=0)
    with interrupted_at(monkeypatch, gen_warmup, "save_stage_checkpoint", epoch=2):
        run_gen_warmup(cfg)
    result = run_gen_warmup(GenWarmupConfig(run=run, epochs=2, iters_per_epoch=2, device="cpu",
                                            sample_every=0, resume=True))
    history = load_stage(run / "gen-warmup.pt")["extra"]["history"]
    assert history == result["history"]
    records = [json.loads(line) for line in (run / "gen-warmup-metrics.jsonl").open()]
    epochs = [r for r in records if "step" not in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    for record, entry in zip(epochs, history, strict=True):
        assert {k: record[k] for k in entry} == entry and record["images_per_s"] > 0
    steps = [r for r in records if "step" in r]
    assert [(r["epoch"], r["step"], r["iteration"]) for r in steps] == [
        (1, 1, 1), (1, 2, 2), (2, 1, 3), (2, 2, 4)]
    with Image.open(run / "curves-gen-warmup.png") as png:
        assert png.format == "PNG"
    events = EventAccumulator(str(run / "tensorboard" / "gen-warmup"))
    events.Reload()
    assert [e.step for e in events.Scalars("step/l_rec")] == [1, 2, 3, 4]
    assert [e.value for e in events.Scalars("epoch/l_rec")] == pytest.approx(
        [h["l_rec"] for h in history])


def test_gen_warmup_bad_inputs_exit_2(tiny, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["gen-warmup", "--run", str(tmp_path / "empty"),
                                 "--mesh-root", str(tiny["mesh"]), *FAST])
    assert result.exit_code == 2 and "warmup" in result.output
    result = runner.invoke(app, ["gen-warmup", "--run", str(tiny["run"]),
                                 "--mesh-root", str(tmp_path / "nomesh"), *FAST])
    assert result.exit_code == 2 and "mesh" in result.output
    result = runner.invoke(app, ["gen-warmup", "--run", str(tiny["run"]), "--mesh-root",
                                 str(tiny["mesh"]), "--feat-variant", "odd", *FAST])
    assert result.exit_code == 2
    for size in ("36x40", "42x40"):  # too small; not a multiple of 4
        result = runner.invoke(app, ["gen-warmup", "--run", str(tiny["run"]), "--mesh-root",
                                     str(tiny["mesh"]), "--size", size, *FAST])
        assert (result.exit_code == 2
                and "does not fit the generator" in " ".join(result.output.split()))
        assert "Traceback" not in result.output


def test_missing_renders_are_counted(tiny, tmp_path):
    ds = load_dataset("market", tiny["data"])
    mesh = tmp_path / "mesh"
    make_silhouette_meshes(tiny["data"], mesh, size=SIZE)
    (mesh / "train" / "render_90" / ds.train[0].name).unlink()
    (mesh / "train" / "render" / ds.train[1].name).unlink()
    with pytest.raises(DatasetError, match="2 of 48 renders missing") as err:
        MeshPairDataset(ds.train, mesh, size=SIZE)
    assert "render" in str(err.value)


def test_novel_view_draws_cover_all_seven_angles(tiny):
    ds = load_dataset("market", tiny["data"])
    data = MeshPairDataset(ds.train[:1], tiny["mesh"], size=SIZE)
    seen = set()
    torch.manual_seed(0)
    for _ in range(80):
        _, _, new, _ = data[0]
        seen.update(a for a in ANGLES if torch.equal(new, data.mesh(0, a)))
    assert seen == set(ANGLES)


def test_generate_layout_and_determinism(trained, tmp_path):
    runner = CliRunner()
    ckpt = str(trained["run"] / "gen-warmup.pt")
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        result = runner.invoke(app, ["generate", "--checkpoint", ckpt, "--angles", "90,180",
                                     "--limit", "3", "--out", str(out), "--device", "cpu",
                                     "--json"])
        assert result.exit_code == 0, result.output
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.jpg"))
    ds = load_dataset("market", trained["data"])
    names = [r.name for r in (ds.query + ds.gallery)[:3]]
    assert files == sorted(Path("test") / f"nv_{a}" / n for a in (90, 180) for n in names)
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes()
    assert list((outs[0] / "test" / "sheets").glob("*.png"))


def test_generate_swap_and_interpolate(trained, tmp_path):
    runner = CliRunner()
    ckpt = str(trained["run"] / "gen-warmup.pt")
    ds = load_dataset("market", trained["data"])
    a, b = ds.gallery[0].name, ds.gallery[3].name
    result = runner.invoke(app, ["generate", "--checkpoint", ckpt, "--swap", f"{a},{b}",
                                 "--angles", "90", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert Path(json.loads(result.stdout)["figure"]).is_file()
    result = runner.invoke(app, ["generate", "--checkpoint", ckpt, "--interpolate", f"{a},{b}",
                                 "--steps", "4", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    figure = Path(json.loads(result.stdout)["figure"])
    from PIL import Image

    with Image.open(figure) as image:  # A, 4 steps, B in one row of 40×40 tiles
        assert image.size == (6 * 42 + 2, 44)


def test_generate_bad_inputs_exit_2(trained, tmp_path):
    runner = CliRunner()
    ckpt = str(trained["run"] / "gen-warmup.pt")
    result = runner.invoke(app, ["generate", "--checkpoint", str(trained["run"] / "warmup.pt")])
    assert result.exit_code == 2 and "no generator" in result.output
    result = runner.invoke(app, ["generate", "--checkpoint", ckpt, "--angles", "30"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["generate", "--checkpoint", ckpt, "--swap", "nobody.jpg,0"])
    assert result.exit_code == 2 and "nobody.jpg" in result.output
    assert not (trained["run"] / "generated").exists()
