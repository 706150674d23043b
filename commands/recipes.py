"""`reidkit recipes`: the shipped shell scripts that reproduce the paper's table rows."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.recipes import Recipe, find_recipe, list_recipes, recipes_dir


def _pair(m: float | None, r1: float | None) -> str:
    return "-" if m is None or r1 is None else f"{m:.1f}/{r1:.1f}"


def _row(recipe: Recipe) -> list[str]:
    if recipe.test_dataset:
        data = f"{recipe.source} + {recipe.dataset}→{recipe.test_dataset}"
    else:
        data = f"{recipe.source}→{recipe.dataset}" if recipe.source else recipe.dataset
    return [
        recipe.name,
        recipe.table,
        data,
        recipe.baseline,
        _pair(recipe.baseline_map, recipe.baseline_rank1),
        _pair(recipe.gcl_map, recipe.gcl_rank1),
    ]


@cli.user_errors
def run(
    show: Annotated[
        str | None,
        typer.Option(
            "--show",
            help="Print the named script (e.g. market_jvtcplus); default: none, list them all.",
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="Print only the named script's path, for `bash \"$(reidkit recipes "
            '--path NAME)" --help`; default: none, list them all.',
        ),
    ] = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """List the paper recipes (one script per table row) with the published mAP / Rank-1."""
    if show is not None:
        recipe = find_recipe(show)
        sys.stdout.write(recipe.path.read_text(encoding="utf-8"))
        return
    if path is not None:
        typer.echo(str(find_recipe(path).path))
        return
    recipes = list_recipes()
    if json_out:
        cli.print_json({"folder": str(recipes_dir()), "recipes": [r.to_dict() for r in recipes]})
        return
    cli.print_table(
        f"Paper recipes (published mAP/Rank-1, %): bash {recipes_dir()}/RECIPE.sh --help",
        ["recipe", "table", "dataset", "warm-up", "baseline", "GCL"],
        [_row(r) for r in recipes],
    )
