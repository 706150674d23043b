"""Tiny data for the train-joint tests: a Market-layout tree of coloured crops, matching mesh
renders, and a gen-warmup checkpoint made from freshly initialised networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.structure import StructureEncoder
from reidkit.runs import save_stage

SIZE = (40, 40)  # small, and the ASPP (dilation 9 on the H/4 × W/4 map) still fits
ANGLES = (45, 90, 135, 180, 225, 270, 315)
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (230, 220, 40), (200, 40, 220),
           (40, 210, 220)]


def _crop(pid: int, k: int, rng: np.random.Generator) -> Image.Image:
    """A person-like crop: identity colour on the torso, a darker leg colour, noise."""
    top = np.array(COLOURS[pid % len(COLOURS)], dtype=np.float64)
    img = np.empty((SIZE[0], SIZE[1], 3))
    img[: SIZE[0] // 2] = top
    img[SIZE[0] // 2 :] = top[::-1] * 0.5
    img += rng.normal(0, 12 + 2 * k, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _mesh(k: int) -> Image.Image:
    """A grey silhouette whose width varies with k (stands in for a rendered body)."""
    img = np.zeros(SIZE, dtype=np.uint8)
    half = 4 + k % 6
    img[6:-6, SIZE[1] // 2 - half : SIZE[1] // 2 + half] = 180
    return Image.fromarray(img, mode="L")


def make_market(root: Path, mesh_root: Path, ids: int = 6, per_cam: int = 4) -> None:
    """Market folders (train / query / gallery) plus mesh renders for train and test."""
    rng = np.random.default_rng(0)
    layout = {"bounding_box_train": ("train", range(1, ids + 1), per_cam),
              "query": ("test", range(101, 101 + ids), 1),
              "bounding_box_test": ("test", range(101, 101 + ids), 2)}
    for folder, (mesh_split, pids, count) in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for pid in pids:
            for cam in (1, 2):
                cams = (2,) if folder == "query" else (1, 2)
                if cam not in cams and folder == "query":
                    continue
                for k in range(count):
                    frame = 100 * cam + 10 * k + (7 if folder == "query" else 0)
                    name = f"{pid:04d}_c{cam}s1_{frame:06d}_0{k}.jpg"
                    _crop(pid, k + cam, rng).save(root / folder / name)
                    for sub in ["render"] + [f"render_{a}" for a in ANGLES]:
                        out = mesh_root / mesh_split / sub / name
                        out.parent.mkdir(parents=True, exist_ok=True)
                        _mesh(k + len(sub)).save(out)


def make_warmup(run: Path, data_root: Path, embed_dim: int | None = 512,
                arch: str = "resnet18") -> Path:
    """warmup.pt as the warm-up stage writes it (random E_id; `embed_dim=None`: the ICE-style
    BN neck without `feat`), for a real gen-warmup."""
    torch.manual_seed(0)
    path = run / "warmup.pt"
    model = IdentityEncoder(arch, embed_dim=embed_dim)
    save_stage(path, stage="warmup", models={"E_id": model.state_dict()},
               config={"dataset": "market", "data_root": str(data_root), "arch": arch,
                       "size": list(SIZE), "baseline": "jvtc"},
               epoch=1, extra={"eval_temporal": False})
    return path


def make_gen_warmup(run: Path, data_root: Path, mesh_root: Path, **extra_config) -> Path:
    """gen-warmup.pt from fresh resnet18 E_id, E_str, G, D (stands in for the upstream stages)."""
    torch.manual_seed(0)
    E_id = IdentityEncoder("resnet18")
    models = {"E_id": E_id, "E_str": StructureEncoder(),
              "G": Generator(id_chunk=E_id.part_dim // 4), "D": Discriminator()}
    path = run / "gen-warmup.pt"
    save_stage(path, stage="gen-warmup",
               models={k: m.state_dict() for k, m in models.items()},
               config={"dataset": "market", "data_root": str(data_root),
                       "mesh_root": str(mesh_root), "arch": "resnet18", "size": list(SIZE),
                       **extra_config},
               epoch=0)
    return path


def free_port() -> int:
    """A TCP port nobody listens on (for the gloo rendezvous)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ddp_worker(rank: int, world: int, phases: list[tuple[int, dict]], out_dir: str) -> None:
    """One torchrun-like rank (torch.multiprocessing.spawn target): for each (port, config) phase,
    the environment torchrun sets, then train-joint, keeping a copy of the memory bank and labels
    after every step. Several phases in one process spare the start-up of new processes."""
    import os

    from reidkit import log
    from reidkit.stages.train_joint import TrainJointConfig, run_train_joint

    torch.set_num_threads(1)
    log.set_quiet(True)
    for phase, (port, config_kwargs) in enumerate(phases):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        seen: list[dict] = []

        def observe(step: dict, seen: list[dict] = seen) -> None:
            seen.append({"iteration": step["iteration"], "memory": step["memory"].clone(),
                         "labels": step["labels"].clone()})

        result = run_train_joint(TrainJointConfig(**config_kwargs), observer=observe)
        torch.save({"steps": seen, "history": result["history"]},
                   Path(out_dir) / f"phase{phase}-rank{rank}.pt")
