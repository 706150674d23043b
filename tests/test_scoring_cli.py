"""`reidkit score-gen` through the CLI: formats, the untrained marker, and bad inputs (exit 2)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reidkit.commands.app import app

runner = CliRunner()
MARK = "UNTRAINED — not comparable"


def _flat(text: str) -> str:
    return "".join(text.split())


def _image(path: Path, rng: np.random.Generator, size: tuple[int, int] = (32, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Real Market-named images (3 ids x 2) and `reidkit generate` output (2 ids x 2 views)."""
    root = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(0)
    for pid in (1, 2, 3):
        for cam in (1, 2):
            _image(root / "real" / f"{pid:04d}_c{cam}s1_000100_01.jpg", rng)
    for pid in (1, 2):
        for deg in (90, 180):
            _image(root / "gen" / "test" / f"nv_{deg}" / f"{pid:04d}_c1s1_000100_01.jpg", rng)
    return root


@pytest.fixture(autouse=True)
def _no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def _score(folders: Path, *extra: str, generated: str | None = None) -> object:
    args = [
        "score-gen",
        "--real",
        str(folders / "real"),
        "--allow-untrained-inception",
        "--cache-dir",
        str(folders / "cache"),
        "--batch-size",
        "5",
        "--device",
        "cpu",
    ]
    args += ["--generated", generated or f"GCL={folders / 'gen'}"]
    return runner.invoke(app, args + list(extra))


def test_table_has_rows_rules_and_the_untrained_marker(folders):
    result = _score(folders, "--real-row")
    assert result.exit_code == 0, result.output
    flat = _flat(result.stdout)
    assert _flat(MARK) in flat
    assert "│Real│6│" in flat and "│GCL│4│" in flat
    assert _flat("split into two disjoint halves") in flat
    assert _flat("greyscale") in flat


def test_json_csv_and_markdown_agree(folders):
    as_json = _score(folders, "--real-row", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["untrained"] is True and data["marker"] == MARK
    assert data["inception"]["trained"] is False and data["inception"]["dims"] == 2048
    rows = {row["name"]: row for row in data["rows"]}
    assert list(rows) == ["Real", "GCL"]
    assert rows["GCL"]["images"] == 4 and rows["GCL"]["identities"] == 2
    assert rows["GCL"]["ssim_pairs"] == 2  # two views of each of the two identities
    assert rows["Real"]["ssim_pairs"] == 3 and rows["Real"]["identities"] == 3
    assert all(np.isfinite(row["fid"]) for row in data["rows"])
    assert data["ssim"]["channels"] == "grey"

    as_csv = _score(folders, "--real-row", "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["row"] for r in table] == ["Real", "GCL"]
    assert float(table[1]["fid"]) == rows["GCL"]["fid"]
    assert float(table[0]["ssim_mean"]) == rows["Real"]["ssim_mean"]
    assert table[0]["inception"] == MARK

    as_md = _score(folders, "--real-row", "--markdown")
    assert as_md.exit_code == 0, as_md.output
    assert MARK in as_md.stdout.splitlines()[0]
    assert "| Real | 6 |" in as_md.stdout and "| GCL | 4 |" in as_md.stdout
    assert "two disjoint halves" in as_md.stdout


def test_rgb_ssim_is_stated(folders):
    result = _score(folders, "--json", "--ssim-channels", "rgb")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ssim"]["channels"] == "rgb" and "per channel" in data["ssim"]["rule"]


def test_output_formats_are_mutually_exclusive(folders):
    result = _score(folders, "--json", "--csv")
    assert result.exit_code == 2
    assert "mutually exclusive" in result.output


def test_missing_weights_without_the_flag(folders):
    result = runner.invoke(
        app,
        [
            "score-gen",
            "--real",
            str(folders / "real"),
            "--generated",
            f"G={folders / 'gen'}",
            "--no-cache",
        ],
    )
    assert result.exit_code == 2
    assert "--inception-weights" in _flat(result.output)


@pytest.mark.parametrize("spec", ["GCL", "=dir", "GCL="])
def test_bad_name_dir_syntax(folders, spec):
    result = _score(folders, generated=spec)
    assert result.exit_code == 2
    assert "NAME=DIR" in result.output


def test_missing_and_empty_folders(folders, tmp_path):
    missing = _score(folders, generated=f"G={tmp_path / 'nope'}")
    assert missing.exit_code == 2 and "not found" in missing.output
    assert _flat(str(tmp_path / "nope")) in _flat(missing.output)
    (tmp_path / "empty").mkdir()
    empty = _score(folders, generated=f"G={tmp_path / 'empty'}")
    assert empty.exit_code == 2 and "no images" in empty.output


def test_unreadable_image_is_named(folders, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(folders / "gen", bad)
    (bad / "test" / "nv_90" / "0009_c1s1_000100_01.jpg").write_bytes(b"not a jpeg")
    result = _score(folders, generated=f"G={bad}")
    assert result.exit_code == 2
    assert "unreadable image" in result.output and "0009_c1s1_000100_01.jpg" in _flat(result.output)


def _mixed(folders: Path, tmp_path: Path) -> Path:
    mixed = tmp_path / "mixed"
    shutil.copytree(folders / "gen", mixed)
    _image(
        mixed / "test" / "nv_270" / "0001_c1s1_000100_01.jpg", np.random.default_rng(1), (40, 20)
    )
    return mixed


def test_mixed_sizes_name_two_examples(folders, tmp_path):
    result = _score(folders, generated=f"G={_mixed(folders, tmp_path)}")
    assert result.exit_code == 2
    flat = _flat(result.output)
    assert "differentsizes" in flat and "--resize" in flat
    assert "nv_270/0001_c1s1_000100_01.jpgis40x20" in flat and "32x16" in flat


@pytest.mark.slow
def test_mixed_sizes_pass_when_resized(folders, tmp_path):
    resized = _score(
        folders, "--resize", "32x16", "--json", generated=f"G={_mixed(folders, tmp_path)}"
    )
    assert resized.exit_code == 0, resized.output
    assert json.loads(resized.stdout)["rows"][0]["images"] == 5


def test_unparsable_identities_need_a_regex(folders, tmp_path):
    odd = tmp_path / "odd"
    for k, name in enumerate(["p1-a.jpg", "p1-b.jpg", "p2-a.jpg"]):
        _image(odd / name, np.random.default_rng(k))
    result = _score(folders, generated=f"G={odd}")
    assert result.exit_code == 2 and "--id-regex" in _flat(result.output)
    ok = _score(folders, "--id-regex", r"^(p\d+)-", "--json", generated=f"G={odd}")
    assert ok.exit_code == 0, ok.output
    row = json.loads(ok.stdout)["rows"][0]
    assert row["identities"] == 2 and row["ssim_pairs"] == 1
