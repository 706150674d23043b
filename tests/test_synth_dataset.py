"""`reidkit synth`: Market layout and counts, ground-truth parameters, determinism, a real ReID
problem (cross-camera harder than same-camera), and the CLI."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reidkit.body.params import load_body_params
from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.errors import ConfigError
from reidkit.stages.synth import SynthConfig, run_synth
from reidkit.synth.look import SCENE_FIELDS, blend_cameras, sample_cameras

NAME = re.compile(r"^(\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
FOLDERS = ("bounding_box_train", "query", "bounding_box_test")


def test_market_reader_parses_the_layout_with_the_right_counts(synth_root):
    data = load_dataset("market", synth_root)
    # 8 ids x 4 images; ids 1-4 train, 5-8 test; 2 cameras, 2 images each: 1 query + 1 gallery
    assert (len(data.train), len(data.query), len(data.gallery)) == (16, 8, 8)
    assert {r.pid for r in data.train} == {1, 2, 3, 4}
    assert {r.pid for r in data.query} == {r.pid for r in data.gallery} == {5, 6, 7, 8}
    assert {r.camid for r in data.train + data.query + data.gallery} == {0, 1}
    for folder in FOLDERS:
        for path in (synth_root / folder).iterdir():
            assert NAME.match(path.name), path.name
            assert Image.open(path).size == (32, 64)
    # Market evaluation ignores same-camera gallery images: each query keeps a cross-camera match
    for q in data.query:
        assert any(g.pid == q.pid and g.camid != q.camid for g in data.gallery)


def test_ground_truth_parameters_cover_every_image(synth_root):
    params = load_body_params(synth_root / "body_params.npz")
    files = {f"train/{p.name}" for p in (synth_root / "bounding_box_train").iterdir()}
    files |= {f"test/{p.name}" for f in FOLDERS[1:] for p in (synth_root / f).iterdir()}
    assert set(params.names) == files and len(params.names) == len(files)
    assert params.betas.shape == (32, 10) and params.camera.shape == (32, 3)
    rot = params.pose.astype(np.float64)
    eye = np.broadcast_to(np.eye(3), rot.shape)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), eye, atol=1e-5)
    # one body shape per identity, shared by all its images
    by_pid: dict[str, set] = {}
    for name, betas in zip(params.names, params.betas, strict=True):
        by_pid.setdefault(name.split("/")[1][:4], set()).add(betas.tobytes())
    assert all(len(shapes) == 1 for shapes in by_pid.values())
    assert len({next(iter(s)) for s in by_pid.values()}) == 8
    settings = json.loads((synth_root / "synth.json").read_text())
    assert settings["ids"] == 8 and settings["seed"] == 0 and settings["size"] == [64, 32]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    tiny = {"ids": 2, "cameras": 2, "images_per_id": 4, "size": (32, 16)}
    run_synth(SynthConfig(out=tmp_path / "a", seed=3, **tiny))
    run_synth(SynthConfig(out=tmp_path / "b", seed=3, **tiny))
    run_synth(SynthConfig(out=tmp_path / "c", seed=4, **tiny))
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    images_a = sorted(v for k, v in a.items() if k.endswith(".jpg"))
    images_c = sorted(v for k, v in c.items() if k.endswith(".jpg"))
    assert images_a != images_c
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left


def _histogram(path: Path, mask: np.ndarray | None = None) -> np.ndarray:
    """Joint RGB histogram (4 bins per channel), L1-normalised."""
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3) // 64
    if mask is not None:
        rgb = rgb[mask.reshape(-1)]
    hist = np.bincount(rgb[:, 0] * 16 + rgb[:, 1] * 4 + rgb[:, 2], minlength=64).astype(float)
    return hist / hist.sum()


def _chromaticity(path: Path, mask: np.ndarray) -> np.ndarray:
    """Histogram (8 x 8 bins) of r/(r+g+b), g/(r+g+b) over the masked pixels: brightness-free."""
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(float)
    rgb = rgb[mask.reshape(-1)]
    rg = np.minimum((rgb[:, :2] / (rgb.sum(1, keepdims=True) + 1e-6) * 8).astype(int), 7)
    hist = np.bincount(rg[:, 0] * 8 + rg[:, 1], minlength=64).astype(float)
    return hist / hist.sum()


def _pair_similarities(records, hist):
    """Histogram intersection of every image pair, grouped by same/other id and camera."""
    groups: dict[tuple[bool, bool], list[float]] = {}
    for a, b in combinations(records, 2):
        sim = float(np.minimum(hist[a.path], hist[b.path]).sum())
        groups.setdefault((a.pid == b.pid, a.camid == b.camid), []).append(sim)
    return {k: float(np.mean(v)) for k, v in groups.items()}


def test_cross_camera_is_harder_than_same_camera(synth_root):
    data = load_dataset("market", synth_root)
    records = data.train + data.query + data.gallery
    hist = {r.path: _histogram(r.path) for r in records}
    sims = _pair_similarities(records, hist)
    same_id_same_cam, same_id_cross_cam = sims[(True, True)], sims[(True, False)]
    assert same_id_same_cam > same_id_cross_cam + 0.05


def test_identity_survives_across_cameras_on_the_person(synth_root, mesh_root):
    """On the person's pixels (the mesh render's mask), a cross-camera image of the same id is
    closer than one of another id: the clothing carries the identity through the camera's
    lighting (chromaticity, so brightness changes do not count)."""
    data = load_dataset("market", synth_root)
    records = data.train + data.query + data.gallery
    split = {r.path: "train" if r.split == "train" else "test" for r in records}
    hist = {}
    for r in records:
        mask = np.asarray(Image.open(mesh_root / split[r.path] / "render" / r.name)) > 20
        hist[r.path] = _chromaticity(r.path, mask)
    sims = _pair_similarities(records, hist)
    assert sims[(True, False)] > sims[(False, False)] + 0.05
    assert sims[(True, True)] > sims[(True, False)]


def test_camera_gap_blends_scenes_towards_camera_0():
    cams = sample_cameras(np.random.default_rng(5), 3)
    for own, kept in zip(cams, blend_cameras(cams, 1.0), strict=True):  # the default: unchanged
        for name in own.__dataclass_fields__:
            assert np.array_equal(getattr(own, name), getattr(kept, name)), name
    shared = blend_cameras(cams, 0.0)
    for own, cam in zip(cams, shared, strict=True):
        for name in SCENE_FIELDS:
            assert np.allclose(getattr(cam, name), getattr(cams[0], name))
        assert cam.texture == cams[0].texture
        assert cam.yaw == own.yaw  # people still walk their camera's way
    quarter = blend_cameras(cams, 0.25)[2]
    assert np.allclose(quarter.wall, 0.75 * cams[0].wall + 0.25 * cams[2].wall)
    assert quarter.ambient == pytest.approx(0.75 * cams[0].ambient + 0.25 * cams[2].ambient)


def test_neutral_base_is_one_scene_for_every_seed():
    shared = {}
    for seed in (1, 7):
        cams = sample_cameras(np.random.default_rng(seed), 3)
        kept = blend_cameras(cams, 1.0, "neutral")  # gap 1: each camera's own, base unused
        assert all(np.array_equal(a.wall, b.wall) for a, b in zip(cams, kept, strict=True))
        shared[seed] = blend_cameras(cams, 0.0, "neutral")
        for own, cam in zip(cams, shared[seed], strict=True):
            assert cam.yaw == own.yaw and cam.texture == cams[0].texture
        half = blend_cameras(cams, 0.5, "neutral")[1]
        assert half.ambient == pytest.approx(0.5 * 0.425 + 0.5 * cams[1].ambient)
    for name in SCENE_FIELDS:  # the same scene whatever the seed drew
        assert np.allclose(getattr(shared[1][0], name), getattr(shared[7][2], name)), name
    assert np.allclose(shared[1][0].tint, 1.0) and shared[1][0].wall.std() == 0  # grey, untinted
    light = shared[1][0].light
    assert light[0] == 0 and light[1] < 0 and np.linalg.norm(light) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="base"):
        blend_cameras(cams, 0.0, "dark")


def test_a_small_camera_gap_makes_cameras_alike(tmp_path):
    tiny = {"ids": 4, "cameras": 3, "images_per_id": 8, "size": (64, 32), "seed": 2}
    gaps = {}
    for gap in (0.0, 1.0):
        run_synth(SynthConfig(out=tmp_path / str(gap), camera_gap=gap, **tiny))
        data = load_dataset("market", tmp_path / str(gap))
        records = data.train + data.query + data.gallery
        sims = _pair_similarities(records, {r.path: _histogram(r.path) for r in records})
        gaps[gap] = sims[(False, True)] - sims[(False, False)]  # same-camera bonus, other ids
        assert json.loads((tmp_path / str(gap) / "synth.json").read_text())["camera_gap"] == gap
    assert gaps[0.0] < gaps[1.0] - 0.05


def test_bad_settings_and_existing_output_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--ids"):
        run_synth(SynthConfig(out=tmp_path / "x", ids=1))
    with pytest.raises(ConfigError, match="--images-per-id"):
        run_synth(SynthConfig(out=tmp_path / "x", images_per_id=3))
    with pytest.raises(ConfigError, match="--scene-base"):
        run_synth(SynthConfig(out=tmp_path / "x", scene_base="dark"))
    assert not (tmp_path / "x").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        run_synth(SynthConfig(out=busy, ids=2, images_per_id=4, size=(32, 16)))
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


def test_cli_json_and_bad_input(tmp_path):
    runner = CliRunner()
    out = tmp_path / "d"
    args = ["synth", "--out", str(out), "--ids", "2", "--cameras", "2", "--images-per-id", "4",
            "--size", "32x16", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["images"] == 8 and payload["counts"]["train"] == 4
    assert sum(1 for _ in out.rglob("*.jpg")) == 8
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "not empty" in again.output
    bad = runner.invoke(app, ["synth", "--out", str(tmp_path / "e"), "--cameras", "1"])
    assert bad.exit_code == 2 and "--cameras" in bad.output
    gap = runner.invoke(app, ["synth", "--out", str(tmp_path / "f"), "--camera-gap", "1.5"])
    assert gap.exit_code == 2 and "--camera-gap" in gap.output
    assert not (tmp_path / "f").exists()
