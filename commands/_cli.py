"""What every command shares: user-error handling (exit 2), result output (table / JSON),
and the common option types."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reidkit import log
from reidkit.config import resolve_config
from reidkit.errors import ReidkitError

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")
TableSpec = tuple[str, Sequence[str], Sequence[Sequence[Any]]]
DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."
out = Console(highlight=False, soft_wrap=True)

DeviceOpt = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
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
GivenDatasetOpt = Annotated[
    str | None,
    typer.Option("--dataset", help="Dataset layout: market, duke, msmt or folder (see README); "
                 "required (here or in --config)."),
]
GivenDataRootOpt = Annotated[
    Path | None,
    typer.Option("--data-root", help="Folder holding the dataset (see README for layouts); "
                 "required (here or in --config)."),
]
CHECKPOINT_KINDS = ("E_id weights: a reidkit stage checkpoint (warmup.pt, train-joint.pt...), a "
                    "JVTC/GCL state_dict, a GCL id_*.pt / model_best.pth, or an ICE checkpoint")
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", help=f"{CHECKPOINT_KINDS}; required (here or in --config)."),
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


def report(result: Any, json_out: bool, *tables: Callable[[Any], TableSpec]) -> None:
    """The output of a command whose result people read as tables: `--json` prints the result
    for scripts, else each table (title, columns, rows) made from it."""
    if json_out:
        print_json(result)
        return
    for table in tables:
        print_table(*table(result))


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


def default_of(cls: type, name: str) -> Any:
    """A config field's default as its dataclass writes it, the one place each default lives."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value == {} or value == ():
        return "none"
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def default_help(cls: type, name: str) -> str:
    """`[default: X]` for help text, read from the config dataclass, styled as Typer's own."""
    return f"[dim]\\[default: {escape(_shown(default_of(cls, name)))}][/dim]"


def opt(cls: type, name: str, *decls: str, help: str, **kwargs: Any) -> Any:
    """A Typer option for config field `name` whose help ends with the dataclass's default (the
    option itself defaults to None, not given, so the default is written once)."""
    decls = decls or (f"--{name.replace('_', '-')}",)
    return typer.Option(*decls, help=f"{help} {default_help(cls, name)}", **kwargs)


def _parse(value: Any, annotation: Any, option: str) -> Any:
    """Command-line text of a tuple field: `HxW` for two ints, else comma-separated items."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if not isinstance(value, str) or typing.get_origin(annotation) is not tuple:
        return value
    items = typing.get_args(annotation)
    if len(items) == 2 and items[1] is Ellipsis:
        return tuple(parse_csv(value, items[0], option))
    if items == (int, int):
        return parse_size(value, option)
    parts = parse_csv(value, str, option)
    if len(parts) != len(items) or not all(parts):
        raise typer.BadParameter(f"'{value}' is not {len(items)} comma-separated items, e.g. A,B",
                                 param_hint=option)
    return tuple(parts)


def given_options(
    cls: type,
    command: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    rename: Mapping[str, str] | None = None,
    output: Sequence[str] = ("json_out",),
) -> dict[str, Any]:
    """The fields a command was given: its parameters not at their Typer default (None, or False
    for an on-switch), renamed, with tuple fields of `cls` parsed from `HxW` or comma lists."""
    declared = inspect.signature(command).parameters
    hints = typing.get_type_hints(cls)
    given: dict[str, Any] = {}
    for key, value in options.items():
        if key == "config" or key in output or value is None or value == declared[key].default:
            continue
        field = (rename or {}).get(key, key)
        given[field] = _parse(value, hints.get(field), f"--{key.replace('_', '-')}")
    return given


def config_from(
    cls: type[C],
    command: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    rename: Mapping[str, str] | None = None,
    output: Sequence[str] = ("json_out",),
    one_of: Sequence[str] = (),
) -> C:
    """A command's config: dataclass defaults < the `config` TOML < the options given.

    `options` are the command's parameters (`locals()`); one left at its Typer default (None, or
    False for an on-switch) is not given; `output` names the flags that only shape the output;
    `rename` maps a parameter to its field where the names differ; tuple fields parse `HxW` and
    comma lists. Giving one field of the exclusive group `one_of` clears the others from the TOML.
    """
    given = given_options(cls, command, options, rename=rename, output=output)
    config = resolve_config(cls, options.get("config"), **given)
    if any(name in given for name in one_of):
        config = dataclasses.replace(config, **{n: None for n in one_of if n not in given})
    return config
