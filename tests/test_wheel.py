"""The built wheel is complete: every package of the source tree is in it, and an unpacked copy
(not the source tree) runs `python -m reidkit` and finds its shipped assets."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        cwd=out,
    )
    (found,) = out.glob("reidkit-*.whl")
    return found


# Source folder → the package it installs as (pyproject's package-dir).
INSTALLED_AS = {"reidkit": "reidkit", "commands": "reidkit.commands"}


def _source_packages() -> set[str]:
    packages = set()
    for folder, package in INSTALLED_AS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            packages.add(".".join((package, *init.parent.relative_to(ROOT / folder).parts)))
    packages.add("reidkit.assets")
    return packages


def test_wheel_holds_every_package_and_the_assets(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {str(Path(n).parent).replace("/", ".") for n in names if n.endswith("__init__.py")}
    assert _source_packages() <= in_wheel
    assert {n.split("/")[0] for n in names if n.endswith(".py")} == {"reidkit"}
    shipped = {n for n in names if n.startswith("reidkit/assets/")}
    expected = {
        "reidkit/assets/" + str(p.relative_to(ROOT / "assets"))
        for p in (ROOT / "assets").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert expected <= shipped


def test_unpacked_wheel_runs_and_finds_assets(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c",
         "import reidkit, reidkit.resources as r; print(reidkit.__file__); "
         "print(r.asset_path('body'))"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where)
    data = tmp_path / "synth"
    run = subprocess.run(
        [sys.executable, "-m", "reidkit", "synth", "--out", str(data), "--ids", "4",
         "--cameras", "2", "--images-per-id", "4", "--size", "32x16"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert run.returncode == 0, run.stderr
    assert len(list((data / "bounding_box_train").glob("*.jpg"))) > 0
