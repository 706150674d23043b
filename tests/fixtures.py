"""Every test's data and checkpoints, made small and fast: Market/Duke/MSMT17 file trees for the
dataset and evaluation tests, learnable two-colour people for the warm-up tests, silhouettes with
mesh renders for the generator tests, coloured crops with renders for train-joint, stage
checkpoints from fresh networks, and the DDP worker the multi-process tests spawn."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data.market import SPLIT_FOLDERS
from reidkit.data.mesh_pairs import ANGLES
from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.structure import StructureEncoder
from reidkit.runs import load_stage, save_stage

# --- file trees for the dataset readers and evaluation ---

def write_image(path: Path, seed: int, size: tuple[int, int] = (32, 16)) -> None:
    """A small random RGB JPEG (h, w) whose colour depends on `seed`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    noise = rng.integers(-30, 30, (*size, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def market_name(pid: int, cam: int, seq: int, frame: int, box: int = 1) -> str:
    """A Market-1501 file name."""
    head = "-1" if pid < 0 else f"{pid:04d}"
    return f"{head}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg"


def make_market(root: Path, *, version_folder: bool = False) -> Path:
    """A Market tree: train 3 ids × 2 cams; query ids 10, 11 on cams 1/2; gallery adds a junk
    (−1) and a distractor (0000). Returns the root to pass as --data-root."""
    base = root / "Market-1501-v15.09.15" if version_folder else root
    seed = 0
    for pid in (1, 2, 3):
        for cam in (1, 2):
            seed += 1
            write_image(base / "bounding_box_train" / market_name(pid, cam, 1, 100 * seed), seed)
    for pid, cam in ((10, 1), (11, 2)):
        seed += 1
        write_image(base / "query" / market_name(pid, cam, 2, 50 + seed), pid)
    gallery = [(10, 1, 5), (10, 2, 6), (10, 3, 7), (11, 1, 8), (11, 2, 9), (0, 4, 10),
               (-1, 1, 11), (-1, 3, 12)]
    for pid, cam, frame in gallery:
        write_image(base / "bounding_box_test" / market_name(pid, cam, 3, frame), max(pid, 0) + cam)
    return root


def make_duke(root: Path) -> Path:
    """A Duke tree under `DukeMTMC-reID/`."""
    base = root / "DukeMTMC-reID"
    for pid, cam, frame in ((1, 1, 46182), (1, 2, 46300), (2, 3, 1000), (2, 8, 1200)):
        write_image(base / "bounding_box_train" / f"{pid:04d}_c{cam}_f{frame:07d}.jpg", frame)
    write_image(base / "query" / "0005_c1_f0000100.jpg", 5)
    for pid, cam, frame in ((5, 2, 200), (5, 1, 300), (6, 2, 400)):
        write_image(base / "bounding_box_test" / f"{pid:04d}_c{cam}_f{frame:07d}.jpg", pid + cam)
    return root


def msmt_name(pid: int, index: int, cam: int, slot: str, frame: int) -> str:
    """An MSMT17 list entry path (`PIDDIR/name.jpg`)."""
    return f"{pid:04d}/{pid:04d}_{index:03d}_{cam:02d}_{slot}_{frame:04d}_0.jpg"


def make_msmt(root: Path, version: int = 1) -> Path:
    """An MSMT17 V1 or V2 tree with list files; train = list_train (2 ids) + list_val (1 id)."""
    base = root / f"MSMT17_V{version}"
    train_dir, test_dir = ("train", "test") if version == 1 else ("mask_train_v2", "mask_test_v2")
    lists = {
        "list_train.txt": (train_dir, [(0, 0, 1, "0303morning", 8), (0, 1, 2, "0303morning", 9),
                                       (1, 0, 3, "0113noon", 100)]),
        "list_val.txt": (train_dir, [(2, 0, 15, "0302afternoon", 7)]),
        "list_query.txt": (test_dir, [(0, 0, 1, "0113morning", 5), (1, 0, 4, "0113morning", 6)]),
        "list_gallery.txt": (test_dir, [(0, 1, 2, "0113morning", 30), (0, 2, 1, "0113morning", 31),
                                        (1, 1, 5, "0113noon", 40), (2, 0, 6, "0113noon", 41)]),
    }
    for list_name, (folder, entries) in lists.items():
        lines = []
        for pid, index, cam, slot, frame in entries:
            name = msmt_name(pid, index, cam, slot, frame)
            write_image(base / folder / name, pid * 7 + cam)
            lines.append(f"{name} {pid}")
        base.mkdir(parents=True, exist_ok=True)
        (base / list_name).write_text("\n".join(lines) + "\n")
    return root


def identity_crop(path: Path, pid: int, index: int) -> None:
    """A 32×16 crop whose colour is the identity's, with per-image noise (so that a random E_id
    still groups an identity's images)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = np.random.default_rng(pid).integers(0, 255, 3)
    noise = np.random.default_rng(1000 * pid + index).integers(-12, 12, (32, 16, 3))
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)


def make_identity_market(root: Path) -> Path:
    """A Market tree to cluster: train 8 ids × 4 crops (cameras 1-2, sequences 1-2) of one colour
    each; query and gallery ids 1 and 2, one crop each."""
    for pid in range(1, 9):
        for k in range(4):
            name = market_name(pid, 1 + k % 2, 1 + k // 2, 100 * pid + 10 * k)
            identity_crop(root / "bounding_box_train" / name, pid, k)
    for pid in (1, 2):
        identity_crop(root / "query" / market_name(pid, 1, 3, 50), pid, 9)
        identity_crop(root / "bounding_box_test" / market_name(pid, 2, 3, 60), pid, 8)
    return root


# warm-up settings that train on make_two_colour_market in seconds (resnet18, no download)
TINY_WARMUP = {
    "arch": "resnet18",
    "pretrained": "none",
    "size": (64, 32),
    "workers": 0,
    "device": "cpu",
    "k1": 6,
    "k2": 2,
    "eval_batch_size": 32,
}

# ... with P×K batches (ABMT, ACT, Cluster-Contrast): 4 identities × 2 images, 2 steps an epoch
TINY_PK = {**TINY_WARMUP, "batch_size": 8, "num_instances": 2, "iters": 2}


def make_two_colour_market(root: Path) -> Path:
    """8 identities × 3 cameras, each person two colours (top, bottom) plus noise, 64×32 Market
    names: train 2 shots per camera, query on camera 1, gallery on cameras 2 and 3."""
    rng = np.random.default_rng(0)
    looks = rng.integers(0, 255, (8, 2, 3))
    plan = {
        "bounding_box_train": [(c, n) for c in (1, 2, 3) for n in range(2)],
        "query": [(1, 9)],
        "bounding_box_test": [(2, 8), (3, 8)],
    }
    for folder, shots in plan.items():
        (root / folder).mkdir()
        for pid in range(8):
            for cam, n in shots:
                image = np.empty((64, 32, 3))
                image[:32], image[32:] = looks[pid, 0], looks[pid, 1]
                image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
                name = f"{pid + 1:04d}_c{cam}s1_{100 * n + 50 * cam:06d}_01.jpg"
                Image.fromarray(image).save(root / folder / name)
    return root


def make_domain(root: Path, seed: int, camera_gap: float, ids: int = 8) -> Path:
    """Market layout, 3 cameras: each person two colours (top, bottom) plus noise; each camera
    shifts every colour by its own offset (the camera gap, in grey levels ~ N(0, 40·gap))."""
    rng = np.random.default_rng(seed)
    looks = rng.integers(40, 215, (ids, 2, 3))
    cameras = rng.normal(0, 40 * camera_gap, (3, 3))
    plan = {"bounding_box_train": [(c, n) for c in (1, 2, 3) for n in range(2)],
            "query": [(1, 9)], "bounding_box_test": [(2, 8), (3, 8)]}
    for folder, shots in plan.items():
        (root / folder).mkdir(parents=True)
        for pid in range(ids):
            for cam, n in shots:
                image = np.empty((64, 32, 3))
                image[:32], image[32:] = looks[pid, 0], looks[pid, 1]
                image += cameras[cam - 1]
                image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
                name = f"{pid + 1:04d}_c{cam}s1_{100 * n + 50 * cam:06d}_01.jpg"
                Image.fromarray(image).save(root / folder / name)
    return root


def small_toml(folder: Path, min_samples: int = 2) -> Path:
    """`--config` file of clustering settings for a few dozen images (small k1, k2)."""
    path = folder / "small.toml"
    path.write_text(f"k1 = 6\nk2 = 2\nmin_samples = {min_samples}\neval_batch_size = 32\n")
    return path


def resumed_warmup(config_at: Callable[[Path, int], Any], root: Path,
                   epochs: int) -> tuple[dict, dict, dict, dict]:
    """A straight warm-up of `epochs` (root/full) and a copy (root/moved) of a 1-epoch one
    (root/part) resumed to `epochs`: both results, then both checkpoints, for the bit-for-bit
    resume tests; `config_at(out, epochs)` builds the run's config."""
    from reidkit.stages.warmup import run_warmup, warmup_config

    full = run_warmup(config_at(root / "full", epochs))
    run_warmup(config_at(root / "part", 1))
    shutil.copytree(root / "part", root / "moved")
    resumed = run_warmup(warmup_config(None, out=root / "moved", resume=True, epochs=epochs))
    return full, resumed, load_stage(root / "full" / "warmup.pt"), load_stage(
        root / "moved" / "warmup.pt")


def assert_same_models(a: dict, b: dict, names: Iterable[str] = ("E_id",)) -> None:
    """The named models of two stage checkpoints hold the same tensors, bit for bit."""
    for name in names:
        for key, value in a["models"][name].items():
            assert torch.equal(value, b["models"][name][key]), (name, key)


@contextlib.contextmanager
def interrupted_at(monkeypatch: pytest.MonkeyPatch, module: ModuleType, save: str,
                   epoch: int) -> Iterator[None]:
    """The block runs as a run killed (KeyboardInterrupt) just before `module.<save>` writes
    `epoch`'s checkpoint; afterwards saving works again, for the resume that follows."""
    original = getattr(module, save)

    def crash(path: Path, **parts: Any) -> None:
        if parts["epoch"] == epoch:
            raise KeyboardInterrupt
        original(path, **parts)

    monkeypatch.setattr(module, save, crash)
    with pytest.raises(KeyboardInterrupt):
        yield
    monkeypatch.setattr(module, save, original)


# --- silhouettes and their renders (gen-warmup) ---



def _silhouette(h: int, w: int, angle: int, offset: float) -> np.ndarray:
    """A body-like blob whose width changes with the rotation angle."""
    yy, xx = np.mgrid[0:h, 0:w]
    width = 0.22 + 0.1 * abs(np.cos(np.radians(angle)))
    body = ((xx / w - 0.5 - offset) / width) ** 2 + ((yy / h - 0.55) / 0.4) ** 2 < 1
    head = ((xx / w - 0.5 - offset) / 0.12) ** 2 + ((yy / h - 0.12) / 0.08) ** 2 < 1
    return body | head


def make_silhouette_market(root: Path, *, ids: int = 3, per_id: int = 2, size=(96, 48)) -> Path:
    """Market-style folders; every image's person has an identity colour over a grey ground."""
    rng = np.random.default_rng(0)
    h, w = size
    for split, folder in SPLIT_FOLDERS.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for pid in range(1, ids + 1):
            colour = rng.integers(30, 225, 3)
            for k in range(per_id if split != "query" else 1):
                cam = 1 + (k + (split == "query")) % 2
                name = f"{pid:04d}_c{cam}s1_{100 * pid + k:06d}_00.jpg"
                mask = _silhouette(h, w, 0, 0.05 * (k - 0.5))
                img = np.full((h, w, 3), 120, np.uint8)
                img[mask] = colour
                Image.fromarray(img).save(root / folder / name, quality=95)
    return root


def make_silhouette_meshes(data_root: Path, mesh_root: Path, size=(96, 48)) -> Path:
    """Renders for every image in the layout `reidkit mesh` writes."""
    h, w = size
    for split, folder in SPLIT_FOLDERS.items():
        mesh_split = "train" if split == "train" else "test"
        for path in sorted((data_root / folder).glob("*.jpg")):
            k = int(path.stem.split("_")[2]) % 100
            for angle in (0, *ANGLES):
                sub = "render" if angle == 0 else f"render_{angle}"
                out = mesh_root / mesh_split / sub / path.name
                out.parent.mkdir(parents=True, exist_ok=True)
                mask = _silhouette(h, w, angle, 0.05 * (k - 0.5))
                Image.fromarray(np.where(mask, 200, 0).astype(np.uint8)).save(out)
    return mesh_root




# --- coloured crops, renders and stage checkpoints (train-joint) ---

CROP_SIZE = (40, 40)  # small, and the ASPP (dilation 9 on the H/4 × W/4 map) still fits
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (230, 220, 40), (200, 40, 220),
           (40, 210, 220)]


def _crop(pid: int, k: int, rng: np.random.Generator) -> Image.Image:
    """A person-like crop: identity colour on the torso, a darker leg colour, noise."""
    top = np.array(COLOURS[pid % len(COLOURS)], dtype=np.float64)
    img = np.empty((CROP_SIZE[0], CROP_SIZE[1], 3))
    img[: CROP_SIZE[0] // 2] = top
    img[CROP_SIZE[0] // 2 :] = top[::-1] * 0.5
    img += rng.normal(0, 12 + 2 * k, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _mesh(k: int) -> Image.Image:
    """A grey silhouette whose width varies with k (stands in for a rendered body)."""
    img = np.zeros(CROP_SIZE, dtype=np.uint8)
    half = 4 + k % 6
    img[6:-6, CROP_SIZE[1] // 2 - half : CROP_SIZE[1] // 2 + half] = 180
    return Image.fromarray(img, mode="L")


def make_crop_market(root: Path, mesh_root: Path, ids: int = 6, per_cam: int = 4) -> None:
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


def make_market_run(root: Path, *, seed: int, size: tuple[int, int]) -> IdentityEncoder:
    """`make_market` in root/market and root/run/warmup.pt (config: arch and size only) holding a
    resnet18 E_id drawn right after torch.manual_seed(seed); returns that E_id, in eval mode."""
    torch.manual_seed(seed)
    make_market(root / "market")
    model = IdentityEncoder("resnet18").eval()
    save_stage(root / "run" / "warmup.pt", stage="warmup", models={"E_id": model.state_dict()},
               config={"arch": "resnet18", "size": list(size)}, epoch=1)
    return model


def make_warmup(run: Path, data_root: Path, *, size: tuple[int, int] = CROP_SIZE,
                embed_dim: int | None = 512, arch: str = "resnet18") -> Path:
    """warmup.pt as an older warm-up wrote it (config only, no hand-off record: the legacy path
    of `read_handoff`), random E_id; `embed_dim=None`: the ICE-style BN neck without `feat`."""
    torch.manual_seed(0)
    path = run / "warmup.pt"
    model = IdentityEncoder(arch, embed_dim=embed_dim)
    save_stage(path, stage="warmup", models={"E_id": model.state_dict()},
               config={"dataset": "market", "data_root": str(data_root), "arch": arch,
                       "size": list(size), "baseline": "jvtc"},
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
                       "mesh_root": str(mesh_root), "arch": "resnet18", "size": list(CROP_SIZE),
                       **extra_config},
               epoch=0)
    return path


# ICE's `base` is nn.Sequential(conv1, bn1, [relu,] maxpool, layer1..4): the layers' indices
ICE_STEM = {"conv1": "0", "bn1": "1", "layer1": "3", "layer2": "4", "layer3": "5", "layer4": "6"}
ICE_STEM_RELU = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6",
                 "layer4": "7"}


def ice_state(model: IdentityEncoder, stem: dict[str, str] = ICE_STEM,
              classes: int = 4) -> dict[str, torch.Tensor]:
    """`model`'s tensors as ICE/SpCL name them: `module.base.N.*`, `module.bottleneck.*`, and a
    classifier of `classes` rows."""
    state = {}
    for key, value in model.state_dict().items():
        head, rest = key.split(".", 1)
        name = f"base.{stem[head]}.{rest}" if head in stem else f"bottleneck.{rest}"
        state[f"module.{name}"] = value
    state["module.classifier.weight"] = torch.zeros(classes, model.embed_dim)
    return state


def save_ice(model: IdentityEncoder, path: Path, stem: dict[str, str] = ICE_STEM,
             classes: int = 4) -> Path:
    """`model` saved as ICE saves its checkpoints, `best_mAP` as a NumPy scalar (which must
    still load with weights_only=True)."""
    torch.save({"state_dict": ice_state(model, stem, classes), "epoch": 3,
                "best_mAP": np.float64(0.5)}, path)
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
