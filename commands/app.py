"""The `reidkit` Typer application: registers every subcommand (each lives in its own module)."""

from __future__ import annotations

from typing import Annotated

import typer

from reidkit import __version__
from reidkit.device import tune_cpu_allocator

app = typer.Typer(
    name="reidkit",
    help="Unsupervised person re-identification with GCL (joint generative and contrastive "
    "learning): meshes, warm-up, view generation, joint training, evaluation, scoring.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reidkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Unsupervised person re-identification with GCL."""
    tune_cpu_allocator()


# (command name, module of reidkit.commands): each module defines `run`, whose docstring's first
# line is the command's one-line help. The order here is the order in `reidkit --help`.
COMMANDS: list[tuple[str, str]] = [
    ("data", "data"),
    ("synth", "synth"),
    ("mesh", "mesh"),
    ("warmup", "warmup"),
    ("cluster", "cluster"),
    ("gen-warmup", "gen_warmup"),
    ("train-joint", "train_joint"),
    ("eval", "eval"),
    ("generate", "generate"),
    ("score-gen", "score_gen"),
    ("import", "import_ckpt"),
    ("export", "export"),
    ("demo", "demo"),
    ("recipes", "recipes"),
    ("doctor", "doctor"),
]


def _register() -> None:
    from importlib import import_module

    for name, module in COMMANDS:
        app.command(name)(import_module(f"reidkit.commands.{module}").run)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
