"""One config dataclass per command, resolved as defaults → TOML file → command-line options."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import tomllib

from reidkit.errors import ConfigError

C = TypeVar("C")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a TOML or CLI value to the field's declared type (Path, tuple, float from int)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        annotation = args[0] if len(args) == 1 else annotation
        origin = typing.get_origin(annotation)
    if annotation is Path:
        return Path(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if annotation in (int, float, str, bool) and not isinstance(value, annotation):
        raise ConfigError(f"config key '{key}' must be {annotation.__name__}, got {value!r}")
    return value


def resolve_config(cls: type[C], toml_file: str | Path | None = None, **overrides: Any) -> C:
    """Build `cls` from its defaults, then the TOML file's keys, then non-None overrides."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if toml_file is not None:
        path = Path(toml_file)
        if not path.is_file():
            raise ConfigError("config file not found", path=path, fix="pass an existing .toml file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file is not valid TOML: {exc}", path=path) from exc
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown config keys {unknown}",
                path=path,
                fix=f"valid keys: {', '.join(sorted(names))}",
            )
        values.update({k: _coerce(v, hints[k], k) for k, v in data.items()})
    for key, value in overrides.items():
        if key not in names:
            raise TypeError(f"{cls.__name__} has no field {key}")
        if value is not None:
            values[key] = _coerce(value, hints[key], key)
    return cls(**values)


def require(config: Any, **fixes: str) -> None:
    """Refuse a config whose required fields (no default: command line or TOML) are missing."""
    for name, fix in fixes.items():
        if getattr(config, name) is None:
            raise ConfigError(f"no --{name.replace('_', '-')} given", fix=f"pass {fix}")


def at_most_one(config: Any, *names: str, fix: str) -> None:
    """Refuse a config that sets two of a group of exclusive fields (e.g. eps and rho): the
    engine's own check, so a Python caller is refused as the command line is."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(config, n) is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} are exclusive", fix=fix)


def check_range(name: str, value: float, lo: float, hi: float, fix: str | None = None) -> None:
    """Refuse a setting outside [lo, hi], naming it, its value and the fix, so that the stages'
    range checks read (and word their errors) alike."""
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be in [{lo}, {hi}] (got {value})", fix=fix)


def check_eps_rho(config: Any) -> None:
    """The DBSCAN radius is either fixed (eps) or set by the rho rule, never both."""
    at_most_one(config, "eps", "rho", fix="give one of them (fixed radius or the rho rule), "
                "e.g. --eps 0.55 or --rho 0.002")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-Python view of a config (Paths as strings) for checkpoints and printing."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}
