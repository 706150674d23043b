"""GCL presets for gen-warmup and train-joint: `paper` (what the paper writes; reidkit's
defaults) or `reference` (what the authors' code, chenhao2345/GCL, does where it differs).

A preset only fills the settings a run left unset (None), so the order of precedence is
dataclass defaults < preset < `--config` TOML < command-line options: an explicit value always
wins over the preset. See docs/joint-training.md for the table of choices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from reidkit.errors import ConfigError

C = TypeVar("C")
PRESETS = ("paper", "reference")
DEFAULT_PRESET = "paper"

# gen-warmup: L_feat's second term (f_id_new or f_id_cyc) and the new-view angles.
GEN_WARMUP = {
    "paper": {"feat_variant": "paper", "view_variant": "paper"},
    "reference": {"feat_variant": "reference", "view_variant": "reference"},
}
# train-joint: the contrastive variant, the new-view angles, whether G/D's Adam lr drops ×gamma
# after lr_step epochs, whether G/D start from gen-warmup's Adam moments, and which E_id
# forwards update its BatchNorm running statistics (the paper is silent: reidkit uses the real
# images only; the authors' code every forward, generated images included).
TRAIN_JOINT = {
    "paper": {"loss_variant": "paper", "view_variant": "paper", "gan_lr_decay": True,
              "carry_adam": False, "bn_stats": "real"},
    "reference": {"loss_variant": "reference", "view_variant": "reference",
                  "gan_lr_decay": False, "carry_adam": True, "bn_stats": "all"},
}


def check_preset(name: str | None) -> None:
    """Refuse an unknown preset name (None = not given)."""
    if name is not None and name not in PRESETS:
        raise ConfigError(f"unknown --preset {name}", fix=f"one of {', '.join(PRESETS)}")


def saved_preset(config: dict[str, Any]) -> str:
    """The preset a checkpoint's config records (checkpoints from before presets: paper)."""
    return str(config.get("preset") or DEFAULT_PRESET)


def apply_preset(config: C, preset: str, table: dict[str, dict[str, Any]]) -> C:
    """`config` with `preset` recorded and every preset field still None taken from it."""
    check_preset(preset)
    unset = {k: v for k, v in table[preset].items() if getattr(config, k) is None}
    return dataclasses.replace(config, preset=preset, **unset)  # type: ignore[type-var]


def refuse_other_preset(given: str | None, saved: str, path: Path) -> None:
    """Resume keeps the preset a run started with: an explicit different one is an error."""
    if given is not None and given != saved:
        raise ConfigError(
            f"--preset {given} differs from the preset this run started with ({saved})",
            path=path,
            fix=f"resume with --preset {saved} (or without --preset), "
            f"or remove {path.name} to start over",
        )


def describe(config: Any, table: dict[str, dict[str, Any]]) -> str:
    """One line for the start of a run: the preset, its settings, and the explicit overrides."""
    own = table[config.preset]
    values = ", ".join(f"{k}={getattr(config, k)}" for k in own)
    changed = [k for k, v in own.items() if getattr(config, k) != v]
    suffix = f"; overridden: {', '.join(changed)}" if changed else ""
    return f"preset {config.preset} ({values}{suffix})"
