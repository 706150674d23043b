"""`reidkit mesh` end to end on the synthetic dataset: all 8 renders, parameter files, resuming
without touching finished files, --overwrite, missing parameters reported, bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reidkit.body.params import BodyParams, load_body_params, save_body_params
from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset

FOLDERS = ["render"] + [f"render_{a}" for a in range(45, 360, 45)]
runner = CliRunner()


def _records(synth_root: Path) -> dict[str, list]:
    data = load_dataset("market", synth_root)
    return {"train": data.train, "test": data.query + data.gallery}


def _mesh_args(synth_root: Path, out: Path, *extra: str) -> list[str]:
    return ["mesh", "--dataset", "market", "--data-root", str(synth_root), "--out", str(out),
            "--smpl-model", "procedural", "--smpl-params", str(synth_root / "body_params.npz"),
            "--size", "64x32", "--device", "cpu", "--json", *extra]


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in root.rglob("*") if p.is_file()}


def test_every_image_has_eight_grey_renders(synth_root, mesh_root):
    for split, records in _records(synth_root).items():
        folders = sorted(p.name for p in (mesh_root / split).iterdir() if p.is_dir())
        assert folders == sorted(FOLDERS)
        for record in records:
            views = [Image.open(mesh_root / split / f / record.name) for f in FOLDERS]
            for view in views:
                assert view.mode == "L" and view.size == (32, 64)
                pixels = np.asarray(view)
                assert pixels[:3, :3].max() < 16 and pixels[:3, -3:].max() < 16  # black corners
                assert 0.05 < (pixels > 16).mean() < 0.6  # a person-sized silhouette
            masks = [np.asarray(v) > 16 for v in views]
            assert not np.array_equal(masks[0], masks[2])  # turning 90° changes the silhouette
    assert not [p for p in mesh_root.rglob(".*")]  # no temporary file left


def test_parameter_files_hold_the_rendered_parameters(synth_root, mesh_root):
    given = load_body_params(synth_root / "body_params.npz")
    rows = given.index()
    for split, records in _records(synth_root).items():
        stored = load_body_params(mesh_root / split / "body_params.npz")
        assert sorted(stored.names) == sorted(f"{split}/{r.name}" for r in records)
        for i, name in enumerate(stored.names):
            np.testing.assert_array_equal(stored.betas[i], given.betas[rows[name]])
            np.testing.assert_array_equal(stored.pose[i], given.pose[rows[name]])
            np.testing.assert_array_equal(stored.camera[i], given.camera[rows[name]])


def test_render_lies_on_the_person_of_the_synthetic_image(synth_root, mesh_root):
    """The synthetic image differs from its own background where the person is: the render's
    silhouette must sit there (same camera convention in synth and mesh)."""
    record = _records(synth_root)["train"][0]
    image = np.asarray(Image.open(record.path).convert("RGB")).astype(float)
    mask = np.asarray(Image.open(mesh_root / "train" / "render" / record.name)) > 16
    rows, cols = np.nonzero(mask)
    top, bottom = rows.min(), rows.max()
    assert bottom - top > 0.6 * mask.shape[0]
    # the rows above the head are pure background: nearly constant colour across the width
    # compared with the body rows, which mix person and scene
    above = image[: max(top - 1, 1)].std(axis=1).mean()
    body = image[top + 5 : bottom - 5].std(axis=1).mean()
    assert body > above


def test_second_run_renders_nothing_and_touches_no_file(synth_root, mesh_root, tmp_path):
    out = tmp_path / "mesh"
    shutil.copytree(mesh_root, out)
    before = _mtimes(out)
    result = runner.invoke(app, _mesh_args(synth_root, out))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rendered"] == 0
    assert [payload["splits"][s]["skipped"] for s in ("train", "test")] == [16, 16]
    assert _mtimes(out) == before
    # one missing render: only that image is redone
    name = _records(synth_root)["test"][0].name
    (out / "test" / "render_90" / name).unlink()
    result = runner.invoke(app, _mesh_args(synth_root, out))
    assert json.loads(result.stdout)["rendered"] == 1
    after = _mtimes(out)
    changed = {k for k in after if after[k] != before.get(k)}
    assert {f"test/{f}/{name}" for f in FOLDERS} <= changed
    assert not {k for k in changed if "/render" in k} - {f"test/{f}/{name}" for f in FOLDERS}
    assert "train/body_params.npz" not in changed


def test_overwrite_redoes_and_missing_parameters_are_listed(synth_root, mesh_root, tmp_path):
    out = tmp_path / "mesh"
    shutil.copytree(mesh_root, out)
    before = _mtimes(out)
    given = load_body_params(synth_root / "body_params.npz")
    picked = [i for i, n in enumerate(given.names) if n.startswith("test/")][:2]
    subset = given.take(picked)
    subset.camera[:, 0] *= 0.5  # a visibly different (smaller) body
    save_body_params(tmp_path / "two.npz", subset)
    args = _mesh_args(synth_root, out, "--overwrite", "--splits", "test")
    args[args.index("--smpl-params") + 1] = str(tmp_path / "two.npz")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rendered"] == 2
    assert len(payload["no_params"]) == 14
    after = _mtimes(out)
    changed = {k for k in after if after[k] != before[k]}
    redone = {f"test/{f}/{n.split('/', 1)[1]}" for f in FOLDERS for n in subset.names}
    assert changed == redone | {"test/body_params.npz"}
    stored = load_body_params(out / "test" / "body_params.npz")
    assert len(stored) == 16  # the other images keep their parameters
    row = stored.index()[subset.names[0]]
    np.testing.assert_allclose(stored.camera[row], subset.camera[0])
    small = np.asarray(Image.open(out / redone.pop())) > 16
    assert small.mean() < 0.5


def _bad_inputs(synth_root: Path, out: Path):
    base = ["mesh", "--dataset", "market", "--data-root", str(synth_root), "--out", str(out)]
    params = ["--smpl-params", str(synth_root / "body_params.npz")]
    return [
        (base + params, "--smpl-model"),
        (base + ["--smpl-model", str(out.parent / "SMPL_NEUTRAL.pkl")] + params, "--smpl-model"),
        (base + ["--smpl-model", "procedural"], "--hmr-checkpoint"),
        (base + ["--smpl-model", "procedural", "--hmr-checkpoint", str(out.parent / "no.pt")],
         "--hmr-checkpoint"),
        (base + ["--smpl-model", "procedural", "--smpl-params", str(out.parent / "no.npz")],
         "--smpl-params"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_bad_inputs_exit_2_naming_the_flag(synth_root, tmp_path, case):
    out = tmp_path / "mesh"
    args, flag = _bad_inputs(synth_root, out)[case]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert flag in result.output
    assert not out.exists()


def test_parameter_file_accepts_axis_angle(tmp_path):
    pose = np.zeros((1, 72), np.float32)
    pose[0, 3:6] = [0.0, 0.0, np.pi / 2]  # joint 1: 90° about z
    np.savez(tmp_path / "p.npz", names=np.array(["train/a.jpg"]), betas=np.zeros((1, 10)),
             pose=pose, camera=np.ones((1, 3)))
    params = load_body_params(tmp_path / "p.npz")
    np.testing.assert_allclose(params.pose[0, 1], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(params.pose[0, 0], np.eye(3), atol=1e-7)
    assert isinstance(params, BodyParams) and params.names == ["train/a.jpg"]
