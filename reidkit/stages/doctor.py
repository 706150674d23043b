"""`reidkit doctor` as a library call: what this installation has (Python, torch, CUDA, faiss,
pytorch3d, ONNX) and which pretrained weights it finds, with where to put the missing ones.
A report only: nothing is downloaded or changed, and missing pieces are not errors."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from reidkit.errors import ReidkitError
from reidkit.models.identity import hub_imagenet_weights
from reidkit.render.pytorch3d_backend import pytorch3d_available
from reidkit.resources import asset_path
from reidkit.scoring.inception import WEIGHTS_NAME as INCEPTION_NAME
from reidkit.scoring.inception import hub_weights_path

OK, MISSING, NONE, UNCHECKED, UNUSABLE = "ok", "missing", "none", "not checked", "unusable"


@dataclass(frozen=True)
class Check:
    """One line of the report: what, its status, what was found, and what to do if anything."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _devices() -> list[str]:
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _cuda() -> Check:
    build = (f"torch built with CUDA {torch.version.cuda}" if torch.version.cuda
             else "CPU-only torch build")
    if not torch.cuda.is_available():
        return Check("CUDA", NONE, f"no GPU visible ({build})",
                     "everything runs on CPU; for a GPU, install a CUDA build of torch and check "
                     "the driver with nvidia-smi")
    names = _devices()
    cudnn = torch.backends.cudnn.version()
    return Check("CUDA", OK, f"{len(names)} device(s): {', '.join(names)} ({build}, cuDNN {cudnn})")


def _faiss() -> Check:
    faiss = _module("faiss")
    if faiss is None:
        return Check("faiss", MISSING, "not installed",
                     "pip install faiss-cpu (clustering falls back to a slower torch search)")
    if hasattr(faiss, "StandardGpuResources"):
        return Check("faiss", OK, f"{faiss.__version__}, GPU build ({faiss.get_num_gpus()} GPUs)")
    fix = ("pip install -e '.[gpu]' for neighbour search on the GPU"
           if torch.cuda.is_available() else "")
    return Check("faiss", OK, f"{faiss.__version__}, CPU build", fix)


def _onnxruntime() -> Check:
    ort = _module("onnxruntime")
    if ort is None:
        return Check("onnxruntime", MISSING, "not installed",
                     "only `reidkit eval --onnx` needs it: pip install onnxruntime "
                     "(or onnxruntime-gpu)")
    providers = ", ".join(p.replace("ExecutionProvider", "") for p in ort.get_available_providers())
    return Check("onnxruntime", OK, f"{ort.__version__} (providers: {providers})")


def _optional(name: str, distribution: str, purpose: str, install: str) -> Check:
    version = _version(distribution)
    if version is None or _module(name) is None:
        return Check(name, MISSING, "not installed", f"only {purpose} needs it: {install}")
    return Check(name, OK, version)


def environment() -> list[Check]:
    """Interpreter, torch, CUDA and the optional packages, with their versions."""
    torch_build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    pytorch3d = (Check("pytorch3d", OK, _version("pytorch3d") or "importable")
                 if pytorch3d_available() else
                 Check("pytorch3d", MISSING, "not installed",
                       "optional, only --renderer pytorch3d needs it: pip install -e "
                       "'.[pytorch3d]' (a build matching your torch)"))
    return [
        Check("Python", OK, f"{platform.python_version()} ({sys.executable})"),
        Check("torch", OK, f"{torch.__version__} ({torch_build})"),
        _cuda(),
        _faiss(),
        pytorch3d,
        _onnxruntime(),
        _optional("onnx", "onnx", "`reidkit export`", "pip install onnx"),
        _optional("smplx", "smplx", "`reidkit mesh`", "pip install smplx"),
        _optional("pytorch_fid", "pytorch-fid", "`reidkit score-gen`", "pip install pytorch-fid"),
        _optional("tensorboard", "tensorboard", "the TensorBoard scalars of the training stages",
                  "pip install -e '.[tensorboard]'"),
    ]


def _hub_file(name: str, found: Path | None, wanted: str, used_by: str) -> Check:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    if found is not None and found.is_file():
        return Check(name, OK, str(found))
    return Check(name, MISSING, "not in the torch hub cache",
                 f"put {wanted} in {folder}, or {used_by}")


def _given(name: str, path: str | Path | None, option: str, source: str,
           load: Any) -> Check:
    """A licensed file that commands take by path: checked only when given here."""
    if path is None:
        return Check(name, UNCHECKED, f"given to each run with {option}",
                     f"{source}; check a file with `reidkit doctor {option} PATH`")
    try:
        load(path)
    except ReidkitError as exc:
        return Check(name, UNUSABLE, f"{exc.what} ({path})", exc.fix or source)
    return Check(name, OK, str(path))


def weights(smpl_model: str | Path | None = None,
            hmr_checkpoint: str | Path | None = None) -> list[Check]:
    """The pretrained weights and licensed files, found in the torch hub cache or given."""
    from reidkit.body.hmr import load_hmr
    from reidkit.body.model import PROCEDURAL_FILE, load_body_model

    procedural = asset_path(*PROCEDURAL_FILE)
    return [
        _hub_file("ImageNet ResNet-50", hub_imagenet_weights("resnet50"),
                  "torchvision's resnet50-*.pth (e.g. resnet50-0676ba61.pth)",
                  "pass --pretrained PATH to warmup"),
        _hub_file("ImageNet ResNet-18", hub_imagenet_weights("resnet18"),
                  "torchvision's resnet18-*.pth (only for --arch resnet18)",
                  "pass --pretrained PATH to warmup"),
        _hub_file("Inception (FID)", hub_weights_path(), INCEPTION_NAME,
                  "pass --inception-weights PATH to score-gen"),
        Check("procedural body (shipped)", OK if procedural.is_file() else MISSING,
              str(procedural), "" if procedural.is_file() else "reinstall reidkit"),
        _given("SMPL body model", smpl_model, "--smpl-model",
               "SMPL_NEUTRAL.pkl from https://smpl.is.tue.mpg.de (registration; it cannot be "
               "shipped), or --smpl-model procedural",
               lambda p: load_body_model(p, "cpu")),
        _given("SPIN HMR checkpoint", hmr_checkpoint, "--hmr-checkpoint",
               "SPIN's model_checkpoint.pt (github.com/nkolot/SPIN, fetch_data.sh), or body "
               "parameters with --smpl-params", lambda p: load_hmr(p, None, "cpu")),
    ]


def run_doctor(smpl_model: str | Path | None = None,
               hmr_checkpoint: str | Path | None = None) -> dict[str, Any]:
    """The whole report as plain data (for the table and --json)."""
    env, found = environment(), weights(smpl_model, hmr_checkpoint)
    faiss = _module("faiss")
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": {"available": torch.cuda.is_available(), "build": torch.version.cuda,
                 "devices": _devices()},
        "faiss": {"version": getattr(faiss, "__version__", None),
                  "gpu_build": hasattr(faiss, "StandardGpuResources")},
        "environment": [asdict(c) for c in env],
        "weights": [asdict(c) for c in found],
        "torch_hub_checkpoints": str(Path(torch.hub.get_dir()) / "checkpoints"),
        "missing": [c.name for c in env + found if c.status in (MISSING, UNUSABLE)],
    }
