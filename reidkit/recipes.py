"""The shipped paper recipes (assets/recipes/*.sh): each script's header comment and settings are
the only record of its table row and published numbers, read here for `reidkit recipes`."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reidkit.errors import ConfigError
from reidkit.resources import asset_path

_HEADER = re.compile(r"^#\s*(table|row|published-baseline|published-gcl|note):\s*(.*?)\s*$")
_SETTING = re.compile(r"^RECIPE_(DATASET|BASELINE|SOURCE|TEST_DATASET|RHO)=(\S*)\s*$")
_SCORES = re.compile(r"^\s*([0-9.]+)\s*/\s*([0-9.]+)\s*$")


@dataclass(frozen=True)
class Recipe:
    """One row script: its paper row, the published mAP / Rank-1 (None where unpublished), its
    settings and where it lies."""

    name: str
    table: str
    row: str
    dataset: str
    baseline: str
    source: str | None
    rho: float | None  # train-joint's; None for a generalisation row (no train-joint)
    baseline_map: float | None
    baseline_rank1: float | None
    gcl_map: float | None
    gcl_rank1: float | None
    note: str
    path: Path
    test_dataset: str | None = None  # generalisation rows: the unseen set tested on

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (path as a string)."""
        return {**asdict(self), "path": str(self.path)}


def recipes_dir() -> Path:
    """Folder of the shipped recipe scripts."""
    return asset_path("recipes")


def _scores(text: str, path: Path, key: str) -> tuple[float | None, float | None]:
    if text in ("", "-"):
        return None, None
    match = _SCORES.match(text)
    if match is None:
        raise ConfigError(
            f"recipe header '{key}: {text}' is not 'mAP/Rank-1' or '-'",
            path=path,
            fix="write the published numbers as e.g. '66.8/87.3'",
        )
    return float(match.group(1)), float(match.group(2))


def parse_recipe(path: Path) -> Recipe | None:
    """Read a script's header and RECIPE_* settings; None for a script that is no recipe
    (the shared common.sh)."""
    header: dict[str, str] = {}
    settings: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if (m := _HEADER.match(line)) is not None:
            header[m.group(1)] = m.group(2)
        elif (m := _SETTING.match(line)) is not None:
            settings[m.group(1)] = m.group(2)
    if "row" not in header:
        return None
    test_dataset = settings.get("TEST_DATASET") or None
    needed = ("DATASET", "BASELINE") if test_dataset else ("DATASET", "BASELINE", "RHO")
    missing = [k for k in needed if not settings.get(k)]
    if missing:
        raise ConfigError(
            f"recipe script lacks RECIPE_{missing[0]}=",
            path=path,
            fix="set RECIPE_DATASET, RECIPE_BASELINE and RECIPE_RHO (or, for a generalisation "
            "row, RECIPE_TEST_DATASET) in the script",
        )
    base = _scores(header.get("published-baseline", "-"), path, "published-baseline")
    gcl = _scores(header.get("published-gcl", "-"), path, "published-gcl")
    return Recipe(
        name=path.stem,
        table=header.get("table", ""),
        row=header["row"],
        dataset=settings["DATASET"],
        baseline=settings["BASELINE"],
        source=settings.get("SOURCE") or None,
        rho=float(settings["RHO"]) if settings.get("RHO") else None,
        baseline_map=base[0],
        baseline_rank1=base[1],
        gcl_map=gcl[0],
        gcl_rank1=gcl[1],
        note=header.get("note", ""),
        path=path,
        test_dataset=test_dataset,
    )


def list_recipes(folder: Path | None = None) -> list[Recipe]:
    """Every recipe script in `folder` (default: the shipped ones), by table then name."""
    folder = folder if folder is not None else recipes_dir()
    found = [r for p in sorted(folder.glob("*.sh")) if (r := parse_recipe(p)) is not None]
    return sorted(found, key=lambda r: (r.table, r.name))


def find_recipe(name: str, folder: Path | None = None) -> Recipe:
    """The recipe called `name` (with or without .sh)."""
    wanted = name.removesuffix(".sh")
    recipes = list_recipes(folder)
    for recipe in recipes:
        if recipe.name == wanted:
            return recipe
    raise ConfigError(
        f"no recipe called {name!r}",
        path=folder or recipes_dir(),
        fix="choose one of: " + ", ".join(r.name for r in recipes),
    )
