"""Atomic file writes: a crash or Ctrl-C never leaves a truncated checkpoint, image or table."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from reidkit.errors import OutputError

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}
_KEPT = "the previous file there, if any, is unchanged"


def _write_error(path: Path, exc: OSError) -> OutputError:
    """The user-facing error for a failed write: what failed, where, and what to do about it."""
    reason = exc.strerror or str(exc)
    if exc.errno in _NO_SPACE:
        fix = f"free disk space (or quota) there, or write to another folder; {_KEPT}"
    elif exc.errno in _NOT_WRITABLE:
        fix = ("the folder is read-only or not writable by you: make it writable or write to "
               f"another folder; {_KEPT}")
    else:
        fix = f"check that folder and its disk, or write to another folder; {_KEPT}"
    return OutputError(f"cannot write {path.name} ({reason})", path=path, fix=fix)


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind an exception (torch wraps a failed write in a RuntimeError)."""
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A system error while writing (full disk, read-only folder) becomes an OutputError naming
    `path`; the temporary file is removed and an existing `path` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
        )
    except OSError as exc:
        raise _write_error(path, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno is None:  # not a system error (e.g. PIL's "image file is truncated")
            raise
        raise _write_error(path, exc) from exc
    finally:
        with suppress(OSError):
            tmp_path.unlink(missing_ok=True)


def save_torch(obj: Any, path: str | Path) -> None:
    """torch.save atomically, through a Python file so that a failed write is an OSError
    (torch's own writer reports a full disk as an opaque RuntimeError), synced before rename."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        try:
            torch.save(obj, handle)
        except RuntimeError as exc:
            cause = _os_error_in(exc)
            if cause is None:
                raise
            raise OSError(cause.errno, cause.strerror) from exc
        handle.flush()
        os.fsync(handle.fileno())


def save_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically (indented, UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")


def save_text(text: str, path: str | Path) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def append_line(line: str, path: str | Path) -> None:
    """Append one line to a log file; a failed write is an OutputError (a torn last line is
    what readers of such logs skip)."""
    path = Path(path)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        raise _write_error(path, exc) from exc


def save_image(image: Any, path: str | Path, **kwargs: Any) -> None:
    """Save a PIL image atomically; the format follows the final file's suffix."""
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}.get(path.suffix.lower())
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **kwargs)
