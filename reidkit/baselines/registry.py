"""Name → (method class, config class) for every warm-up baseline."""

from __future__ import annotations

from reidkit.baselines.abmt import ABMT
from reidkit.baselines.act import ACT
from reidkit.baselines.base import Method
from reidkit.baselines.cc import ClusterContrast
from reidkit.baselines.config import (
    ABMTConfig,
    ACTConfig,
    CCConfig,
    DomainMixConfig,
    ICEConfig,
    JVTCConfig,
    MMCLConfig,
    SupervisedConfig,
    WarmupConfig,
)
from reidkit.baselines.domainmix import DomainMix
from reidkit.baselines.ice import ICE
from reidkit.baselines.jvtc import JVTC, JVTCPlus
from reidkit.baselines.mmcl import MMCL
from reidkit.baselines.supervised import Supervised
from reidkit.errors import ConfigError

BASELINES: dict[str, tuple[type[Method], type[WarmupConfig]]] = {
    "jvtc": (JVTC, JVTCConfig),
    "jvtc+": (JVTCPlus, JVTCConfig),
    "ice": (ICE, ICEConfig),
    "mmcl": (MMCL, MMCLConfig),
    "cc": (ClusterContrast, CCConfig),
    "supervised": (Supervised, SupervisedConfig),
    "abmt": (ABMT, ABMTConfig),
    "act": (ACT, ACTConfig),
    "domainmix": (DomainMix, DomainMixConfig),
}


def get_baseline(name: str) -> tuple[type[Method], type[WarmupConfig]]:
    """The method and config classes of a baseline, or a ConfigError listing the choices."""
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline '{name}'", fix=f"choose one of {', '.join(BASELINES)}")
    return BASELINES[name]
