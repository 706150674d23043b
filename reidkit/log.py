"""The engine's only output channel: messages and progress on stderr (rich on a TTY, plain lines
otherwise), silenced on non-zero distributed ranks, so stdout stays free for results and --json."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence messages and progress (non-zero DDP ranks, library use in tests)."""
    _state["quiet"] = quiet


def info(message: str) -> None:
    """Print a progress message for people (stderr)."""
    if not _state["quiet"]:
        console.print(message)


def warn(message: str) -> None:
    """Print a warning that must not be missed, even when output is not a terminal."""
    if not _state["quiet"]:
        console.print(f"[bold yellow]warning:[/] {message}")


def _format_fields(fields: dict[str, object]) -> str:
    parts = []
    for key, value in fields.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class Task:
    """A running progress task; `advance` moves it and updates the shown fields (loss terms...)."""

    def __init__(self, description: str, total: int | None, progress: Progress | None):
        self.description, self.total, self.done = description, total, 0
        self._progress = progress
        self._id = progress.add_task(description, total=total, fields="") if progress else None
        self._last_print = time.monotonic()
        self._fields: dict[str, object] = {}

    def advance(self, n: int = 1, **fields: object) -> None:
        """Count n more items done and show the latest values of `fields`."""
        self.done += n
        self._fields.update(fields)
        if self._progress is not None:
            self._progress.update(self._id, advance=n, fields=_format_fields(self._fields))
        elif not _state["quiet"] and (
            time.monotonic() - self._last_print > 10 or self.done == self.total
        ):
            self._last_print = time.monotonic()
            of = f"/{self.total}" if self.total else ""
            console.print(f"{self.description}: {self.done}{of} {_format_fields(self._fields)}")


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    """Show progress for a long step: a rich bar on a terminal, a line every 10 s otherwise."""
    if _state["quiet"] or not console.is_terminal:
        yield Task(description, total, None)
        return
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[fields]}"),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        yield Task(description, total, progress)
