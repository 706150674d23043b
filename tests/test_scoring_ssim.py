"""SSIM pairs and identities: direct scikit-image calls, hand-made namings, seeded sampling."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from reidkit.errors import ConfigError
from reidkit.scoring import identities
from reidkit.scoring.images import common_size, list_images
from reidkit.scoring.ssim import pair_scores, ssim_pair


def _write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (24, 12, 3), dtype=np.uint8)
    noisy = np.clip(base.astype(int) + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
    other = rng.integers(0, 256, (24, 12, 3), dtype=np.uint8)
    return [
        _write(tmp_path / "a.png", base),
        _write(tmp_path / "b.png", noisy),
        _write(tmp_path / "c.png", other),
        _write(tmp_path / "d.png", base),
    ]


def _grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_grey_pairs_equal_direct_skimage_calls(images):
    pairs = np.array([[0, 1], [0, 2], [1, 2], [0, 3]])
    scores = pair_scores(images, pairs, channels="grey")
    for (i, j), score in zip(pairs, scores, strict=True):
        direct = structural_similarity(_grey(images[i]), _grey(images[j]), data_range=255)
        assert score == pytest.approx(direct, abs=1e-12)
    assert scores[3] == pytest.approx(1.0)  # identical pixels
    assert scores[0] > scores[1]  # a noisy copy is closer than an unrelated image


def test_rgb_pairs_are_the_mean_over_channels(images):
    scores = pair_scores(images, np.array([[0, 1], [1, 2]]), channels="rgb")
    for score, (i, j) in zip(scores, [(0, 1), (1, 2)], strict=True):
        x, y = _rgb(images[i]), _rgb(images[j])
        per_channel = [
            structural_similarity(x[..., c], y[..., c], data_range=255) for c in range(3)
        ]
        assert score == pytest.approx(np.mean(per_channel), abs=1e-12)
    assert ssim_pair(_rgb(images[0]), _rgb(images[0])) == pytest.approx(1.0)


def test_resize_is_applied_before_ssim(images):
    score = pair_scores(images, np.array([[0, 2]]), resize=(48, 24))[0]
    x, y = (
        np.asarray(
            Image.open(images[k]).convert("RGB").resize((24, 48), Image.BICUBIC).convert("L")
        )
        for k in (0, 2)
    )
    assert score == pytest.approx(structural_similarity(x, y, data_range=255), abs=1e-12)


def test_default_naming_market_duke_msmt_and_generate_layout():
    assert identities.identity_of("0002_c1s1_000451_03.jpg") == "0002"
    assert identities.identity_of("0001_c2_f0046182.jpg") == "0001"
    assert identities.identity_of("0042_003_01_0303morning_0008_0.jpg") == "0042"
    assert identities.identity_of("test/nv_90/0007_c3s1_000100_01.jpg") == "0007"
    assert identities.identity_of("-1_c1s1_000401_03.jpg") is None  # Market junk
    assert identities.identity_of("person.jpg") is None


def test_user_regex_on_a_made_up_naming():
    names = ["alice-01.png", "bob-01.png", "alice-02.png", "carol.png", "bob-02.png", "alice-3.png"]
    pattern = identities.compile_id_regex(r"^([a-z]+)-\d+")
    groups, unparsed = identities.group_by_identity(names, pattern)
    assert groups == {"alice": [0, 2, 5], "bob": [1, 4]}
    assert unparsed == [3]
    # A pattern containing "/" is matched against the relative path: folder-per-identity.
    folder = identities.compile_id_regex(r"^(\w+)/")
    assert identities.identity_of("p17/shot.png", folder) == "p17"


@pytest.mark.parametrize("text", ["(", r"\d+", r"(\d+)_(c)"])
def test_bad_user_regex_is_refused(text):
    with pytest.raises(ConfigError):
        identities.compile_id_regex(text)


def test_all_pairs_are_same_identity_and_complete():
    groups = {"a": [0, 3, 5], "b": [1], "c": [2, 4]}
    pairs = identities.intra_class_pairs(groups, per_id=0, seed=0)
    expected = {(0, 3), (0, 5), (3, 5), (2, 4)}
    assert {tuple(p) for p in pairs.tolist()} == expected
    assert len(pairs) == len(expected)


def test_sampled_pairs_are_capped_seeded_and_distinct():
    groups = {"a": list(range(10)), "b": [20, 21, 22]}
    pairs = identities.intra_class_pairs(groups, per_id=5, seed=7)
    by_id = {
        "a": [p for p in pairs.tolist() if p[0] < 20],
        "b": [p for p in pairs.tolist() if p[0] >= 20],
    }
    assert len(by_id["a"]) == 5 and len({tuple(p) for p in by_id["a"]}) == 5
    assert all(p in [list(c) for c in combinations(range(10), 2)] for p in by_id["a"])
    assert len(by_id["b"]) == 3  # fewer pairs than the cap: all of them
    again = identities.intra_class_pairs(groups, per_id=5, seed=7)
    np.testing.assert_array_equal(pairs, again)
    other = identities.intra_class_pairs(groups, per_id=5, seed=8)
    assert not np.array_equal(pairs, other)
    # Seeded per identity: dropping "b" does not change the draw for "a".
    alone = identities.intra_class_pairs({"a": groups["a"]}, per_id=5, seed=7)
    assert alone.tolist() == by_id["a"]


def test_real_split_is_disjoint_by_identity_and_seeded():
    groups = {f"{i:04d}": [2 * i, 2 * i + 1] for i in range(7)}
    part_a, part_b = identities.split_identities(groups, seed=3)
    owner = {index: pid for pid, members in groups.items() for index in members}
    ids_a, ids_b = {owner[i] for i in part_a}, {owner[i] for i in part_b}
    assert not ids_a & ids_b and ids_a | ids_b == set(groups)
    assert (len(ids_a), len(ids_b)) == (3, 4)
    assert sorted(part_a.tolist() + part_b.tolist()) == list(range(14))
    again = identities.split_identities(groups, seed=3)
    assert again[0].tolist() == part_a.tolist()
    with pytest.raises(ConfigError, match="at least 2 identities"):
        identities.split_identities({"0001": [0, 1]}, seed=0)


def test_image_listing_is_recursive_sorted_and_skips_sheets_and_hidden(tmp_path):
    rng = np.random.default_rng(0)
    names = ["nv_90/0002_c1.jpg", "nv_180/0001_c1.jpg", "nv_180/0002_c1.jpg", "top.png"]
    for name in names + ["sheets/sheet_0000.png", ".x.jpg.tmp.jpg"]:
        _write(tmp_path / name, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (tmp_path / "nv_90" / "notes.txt").write_text("not an image")
    listed = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert listed == sorted(names)
    assert common_size(tmp_path, list_images(tmp_path)) == (8, 8)
