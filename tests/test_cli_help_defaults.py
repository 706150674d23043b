"""Every option of every command says what it is when omitted: a shown default, [required], or
help text naming the default (options whose real default lives in a config dataclass)."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
import typer
from typer.core import TyperOption
from typer.testing import CliRunner

from reidkit.commands.app import COMMANDS, app

runner = CliRunner()
SAYS_DEFAULT = re.compile(r"\bdefault\b|\bomitted\b|\brequired\b", re.IGNORECASE)


def undocumented(command) -> list[str]:
    """Options that show no default, are not required, and whose help names no default."""
    gaps = []
    for param in command.params:
        if not isinstance(param, TyperOption) or param.name == "help" or param.required:
            continue
        # Typer prints [default: X] for a non-flag option with a default; a plain on-switch
        # (--json) is off when omitted, which its help need not say.
        shown = not param.is_flag and param.show_default is not False and param.default is not None
        plain_flag = param.is_flag and not param.secondary_opts and param.default is False
        if not (shown or plain_flag or SAYS_DEFAULT.search(param.help or "")):
            gaps.append(param.opts[0])
    return gaps


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_option_says_its_default(name):
    command = typer.main.get_command(app).commands[name]
    assert undocumented(command) == []


def test_rule_sees_a_missing_default():
    tool = typer.Typer(add_completion=False)

    @tool.command()
    def run(
        limit: Annotated[int | None, typer.Option("--limit", help="Only the first N.")] = None,
        steps: Annotated[int, typer.Option("--steps", help="Steps.")] = 8,
        out: Annotated[str | None, typer.Option("--out", help="Folder (default: here).")] = None,
        hard: Annotated[bool | None, typer.Option("--hard/--no-hard", help="Hard loss.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:  # pragma: no cover - never invoked
        """A test command."""

    assert undocumented(typer.main.get_command(tool)) == ["--limit", "--hard"]


@pytest.mark.parametrize("name, default", [("eval", "[default: 64]"), ("export", "[default: 17]")])
def test_rendered_help_shows_defaults(name, default):
    result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert default in result.output
