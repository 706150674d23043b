"""Activations and end-to-end FID against pytorch-fid's own pipeline, and the activation cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pytorch_fid.fid_score import calculate_frechet_distance, get_activations

from reidkit.scoring.activations import compute_activations, folder_activations
from reidkit.scoring.images import list_images
from reidkit.scoring.inception import build_inception, describe_network
from reidkit.stages.score_gen import ScoreGenConfig, run_score_gen


def _folder(root: Path, pids: range, per_id: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for pid in pids:
        for k in range(per_id):
            pixels = rng.integers(0, 256, (24, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"{pid:04d}_c{k + 1}s1_00000{k}_01.png")
    return root


def _score_config(real: Path, gen: Path, **settings) -> ScoreGenConfig:
    """score-gen of one generated folder G against `real` with an untrained 64-d Inception on
    CPU: fast, and the same network on both sides of each comparison."""
    return ScoreGenConfig(real=real, generated={"G": str(gen)}, allow_untrained_inception=True,
                          dims=64, device="cpu", **settings)


@pytest.fixture(autouse=True)
def _no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def test_pool3_activations_equal_pytorch_fids_get_activations(tmp_path):
    files = list_images(_folder(tmp_path / "a", range(2), 2, seed=0))
    model = build_inception(describe_network(None, seed=4))
    ours = compute_activations(model, files, batch_size=2)
    theirs = get_activations(
        [str(f) for f in files], model, batch_size=2, dims=2048, device="cpu", num_workers=0
    )
    assert ours.shape == (4, 2048)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_end_to_end_fid_equals_pytorch_fid_pipeline(tmp_path):
    # 64-d features (pytorch-fid's --dims 64) keep scipy's sqrtm in pytorch-fid's reference fast.
    real = _folder(tmp_path / "real", range(1, 4), 2, seed=1)
    gen = _folder(tmp_path / "gen", range(1, 3), 3, seed=2)
    config = _score_config(real, gen, no_cache=True, seed=7, batch_size=4)
    ours = run_score_gen(config)["rows"][0]["fid"]

    model = build_inception(describe_network(None, dims=64, seed=7))
    stats = []
    for folder in (gen, real):  # pytorch-fid's compute_statistics_of_path, with our model
        files = sorted(str(p) for p in folder.glob("*.png"))
        act = get_activations(files, model, batch_size=4, dims=64, device="cpu", num_workers=0)
        stats += [np.mean(act, axis=0), np.cov(act, rowvar=False)]
    theirs = calculate_frechet_distance(*stats)
    assert ours == pytest.approx(theirs, abs=1e-3)
    assert ours > 1e-3


def test_cache_hit_returns_identical_activations_without_the_network(tmp_path):
    folder = _folder(tmp_path / "g", range(2), 2, seed=3)
    files = list_images(folder)
    info = describe_network(None, dims=64, seed=0)
    cache_dir = tmp_path / "cache"
    calls = []

    def model():
        calls.append(1)
        return build_inception(info)

    def failing():
        raise AssertionError("the network must not run on a cache hit")

    kwargs = dict(resize=None, batch_size=4, device="cpu", cache_dir=cache_dir)
    first, cached = folder_activations(model, info, folder, files, **kwargs)
    assert not cached and len(calls) == 1
    again, cached = folder_activations(failing, info, folder, files, **kwargs)
    assert cached
    np.testing.assert_array_equal(first, again)
    assert [p.suffix for p in cache_dir.iterdir()] == [".npy"]  # no temporary file left

    # Another network, size policy or a changed file is a miss.
    other = describe_network(None, dims=64, seed=1)
    with pytest.raises(AssertionError, match="must not run"):
        folder_activations(failing, other, folder, files, **kwargs)
    with pytest.raises(AssertionError, match="must not run"):
        folder_activations(failing, info, folder, files, **{**kwargs, "resize": (24, 12)})
    stat = files[0].stat()
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="must not run"):
        folder_activations(failing, info, folder, files, **kwargs)


def test_repeated_table_uses_the_cache(tmp_path, monkeypatch):
    real = _folder(tmp_path / "real", range(1, 5), 2, seed=5)
    gen = _folder(tmp_path / "gen", range(1, 3), 2, seed=6)
    config = _score_config(real, gen, real_row=True, cache_dir=tmp_path / "cache")
    first = run_score_gen(config)

    def failing(info):
        raise AssertionError("network built although everything is cached")

    monkeypatch.setattr("reidkit.stages.score_gen.build_inception", failing)
    second = run_score_gen(config)
    assert [r["fid"] for r in second["rows"]] == [r["fid"] for r in first["rows"]]
    assert all(r["from_cache"] for r in second["rows"])
    assert [r["name"] for r in first["rows"]] == ["Real", "G"]
    assert first["rows"][0]["split"]["a_images"] + first["rows"][0]["split"]["b_images"] == 8
