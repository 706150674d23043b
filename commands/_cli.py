"""What every command shares: user-error handling (exit 2), result output (table / JSON),
and the common option types."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reidkit import log
from reidkit.errors import ReidkitError

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True)

DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file of config keys (defaults < file < command-line options); "
        "default: none, the built-in defaults.",
        dir_okay=False,
    ),
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset", help="Dataset layout: market, duke, msmt or folder (see README)."
    ),
]
DataRootOpt = Annotated[
    Path, typer.Option("--data-root", help="Folder holding the dataset (see README for layouts).")
]
CameraRegexOpt = Annotated[
    str | None,
    typer.Option(
        "--camera-regex",
        help="folder datasets: regex with one group giving the camera id (e.g. '_c(\\d+)'); "
        "default: none, train and query images on camera 0, gallery images on camera 1.",
    ),
]


def user_errors(fn: F) -> F:
    """Turn ReidkitError into one clear message on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReidkitError as exc:
            log.console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            log.console.print("[bold red]interrupted[/]: finished work is kept; re-run to resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def percent(fraction: float) -> str:
    """A score fraction (mAP, Rank-k, mINP) as a percentage, the one rule of every score table:
    two decimals whatever the size (4.00, 0.00); `--json` keeps the fraction."""
    return "nan" if math.isnan(fraction) else f"{100 * fraction:.2f}"


def _cell(value: Any) -> str:
    """One rule for every float in a table: 4 decimals, tiny non-zero values (learning rates) in
    scientific notation, so a column never mixes "0.0000" with "4.00"."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.2e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on stdout (plain text when stdout is not a terminal)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == columns[0] else "right",
                         overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)


def print_json(obj: Any) -> None:
    """One JSON object on stdout, for shell scripts."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def parse_csv(text: str | None, cast: Callable[[str], Any] = str, option: str = "") -> list[Any]:
    """Split a comma-separated option value, with a clear error for a bad element."""
    if text is None or text == "":
        return []
    items = []
    for part in text.split(","):
        part = part.strip()
        try:
            items.append(cast(part))
        except ValueError:
            raise typer.BadParameter(
                f"'{part}' in '{text}' is not valid", param_hint=option
            ) from None
    return items


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """Parse `HxW` (e.g. 256x128) into (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not HEIGHTxWIDTH, e.g. 256x128", param_hint=option
        ) from None
    if h <= 0 or w <= 0:
        raise typer.BadParameter("height and width must be positive", param_hint=option)
    return h, w
