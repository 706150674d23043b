"""pytorch-fid's FID Inception network built from local weights only (pytorch-fid's own builder
downloads them), or a seeded untrained copy for smoke tests whose numbers are marked as such."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch
from pytorch_fid import inception as pfi

from reidkit import log
from reidkit.errors import WeightsError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256_PREFIX = "6726825d"
WEIGHTS_URL = pfi.FID_WEIGHTS_URL
UNTRAINED_MARK = "UNTRAINED — not comparable"


@dataclass(frozen=True)
class InceptionInfo:
    """What network produced the activations: recorded in results and in the cache key."""

    trained: bool
    weights: str | None
    sha256: str | None
    seed: int | None
    dims: int

    @property
    def tag(self) -> str:
        """Identifies the network's weights (sha256, or the untrained seed)."""
        return self.sha256 if self.trained else f"untrained-kaiming-seed{self.seed}"


def hub_weights_path() -> Path:
    """Where pytorch-fid would have cached its download: the torch hub checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


def find_weights(path: str | Path | None, allow_untrained: bool) -> Path | None:
    """The weights file (the given path, else the torch hub cache); None only when untrained is
    allowed and nothing was found."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise WeightsError(
                "Inception weights file not found",
                path=path,
                fix=f"pass the path of {WEIGHTS_NAME} to --inception-weights",
            )
        return path
    hub = hub_weights_path()
    if hub.is_file():
        return hub
    if allow_untrained:
        return None
    raise WeightsError(
        f"FID needs pytorch-fid's Inception weights ({WEIGHTS_NAME}); they are neither given "
        "nor in the torch hub cache, and reidkit never downloads",
        path=hub,
        fix=f"download {WEIGHTS_URL} once and pass --inception-weights PATH (or copy it to the "
        "path above); --allow-untrained-inception gives numbers for smoke tests only",
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fid_backbone() -> torch.nn.Module:
    """The structure of pytorch-fid's `fid_inception_v3()` (torchvision Inception with the TF-FID
    blocks patched in), without its `load_state_dict_from_url` call."""
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def _load_state(backbone: torch.nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        backbone.load_state_dict(state)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, TypeError) as exc:
        raise WeightsError(
            f"not pytorch-fid's Inception weights ({type(exc).__name__}: {str(exc)[:200]})",
            path=path,
            fix=f"pass the file {WEIGHTS_NAME} from {WEIGHTS_URL}",
        ) from exc


def describe_network(weights: Path | None, *, dims: int = 2048, seed: int = 0) -> InceptionInfo:
    """Identify the network (weights hash, or untrained seed) without building it, so a fully
    cached table never pays for the network."""
    if dims not in pfi.InceptionV3.BLOCK_INDEX_BY_DIM:
        raise WeightsError(
            f"no Inception block gives {dims}-d features",
            fix=f"use one of {sorted(pfi.InceptionV3.BLOCK_INDEX_BY_DIM)}",
        )
    if weights is None:
        return InceptionInfo(trained=False, weights=None, sha256=None, seed=seed, dims=dims)
    sha = sha256_file(weights)
    if not sha.startswith(WEIGHTS_SHA256_PREFIX):
        log.warn(
            f"the sha256 of {weights} does not start with {WEIGHTS_SHA256_PREFIX}: not the "
            "standard FID weights, numbers are not comparable to published FID"
        )
    return InceptionInfo(trained=True, weights=str(weights), sha256=sha, seed=None, dims=dims)


def build_inception(info: InceptionInfo) -> pfi.InceptionV3:
    """pytorch-fid's `InceptionV3` (inputs in [0, 1], resized to 299; pool3 = 2048-d by default)
    in eval mode on CPU. Untrained: seeded, Kaiming-normal convolutions (torchvision's default
    init makes the features vanish to ~1e-8)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(info.seed or 0)
        backbone = _fid_backbone()
        if not info.trained:
            for module in backbone.modules():
                if isinstance(module, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    if info.weights is not None:
        _load_state(backbone, Path(info.weights))
    block = pfi.InceptionV3.BLOCK_INDEX_BY_DIM[info.dims]
    with mock.patch.object(pfi, "fid_inception_v3", lambda: backbone):
        return pfi.InceptionV3([block], use_fid_inception=True).eval()
