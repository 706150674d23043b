"""`reidkit gen-warmup`: train E_str, G and D with L_gan while the warmed-up E_id stays frozen
(eval mode, no optimiser step; gradients still flow through it into G). Writes `gen-warmup.pt`
every epoch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from reidkit import log
from reidkit.config import check_range, config_to_dict
from reidkit.data.datasets import load_dataset
from reidkit.data.mesh_pairs import VIEW_VARIANTS, MeshPairDataset, new_view_angles
from reidkit.data.records import ImageRecord
from reidkit.device import autocast, resolve_device, seed_everything
from reidkit.errors import CheckpointError, ConfigError
from reidkit.generate.images import grid, mesh_to_uint8, to_uint8
from reidkit.io import save_image
from reidkit.metrics_log import MetricsLog
from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import load_identity_encoder
from reidkit.models.structure import StructureEncoder, check_gan_size
from reidkit.runs import Handoff, load_stage, require_stage, save_stage, stage_path
from reidkit.train.gan import FEAT_VARIANTS, GAN_TYPES, GanWeights, gan_step, set_requires_grad
from reidkit.train.presets import (
    DEFAULT_PRESET,
    GEN_WARMUP,
    apply_preset,
    check_preset,
    describe,
    refuse_other_preset,
    saved_preset,
)
from reidkit.train.rng import SeededItems, capture_rng, item_seed, restore_rng
from reidkit.train.scaffold import cpu_state, loader_workers, optimizer_to, resume_config

STAGE = "gen-warmup"
# options a resumed gen-warmup may change (every other one must match the run being resumed)
RESUME_MAY_CHANGE = ("run", "epochs", "device", "amp", "workers", "sample_every",
                     "iters_per_epoch", "resume")
SAMPLE_ANGLES = (90, 180, 270)


@dataclass
class GenWarmupConfig:
    """Options of `reidkit gen-warmup` (defaults = the paper's). `preset` None = paper (on resume:
    the run's); the fields marked "preset" stay None until the preset fills them."""

    run: Path | None = None
    mesh_root: Path | None = None
    init: Path | None = None
    dataset: str | None = None
    data_root: Path | None = None
    camera_regex: str | None = None
    size: tuple[int, int] | None = None
    epochs: int = 40
    batch_size: int = 16
    iters_per_epoch: int | None = None
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.999
    weight_decay: float = 5e-4
    lambda_img: float = 5.0
    lambda_feat: float = 5.0
    lambda_adv: float = 1.0
    preset: str | None = None
    feat_variant: str | None = None  # preset
    view_variant: str | None = None  # preset
    gan_type: str = "lsgan"
    d_dim: int = 32  # D's channel width (the paper's 32; 16 = steps 1.6x faster on a CPU)
    amp: bool = False
    channels_last: bool = False
    device: str = "auto"
    seed: int = 1
    workers: int = -1
    sample_every: int = 500
    resume: bool = False


def _check(config: GenWarmupConfig) -> None:
    if config.run is None:
        raise ConfigError("no run folder given", fix="pass --run runs/NAME")
    check_preset(config.preset)
    if config.feat_variant not in (None, *FEAT_VARIANTS):
        raise ConfigError(f"--feat-variant must be one of {', '.join(FEAT_VARIANTS)}")
    if config.view_variant not in (None, *VIEW_VARIANTS):
        raise ConfigError(f"--view-variant must be one of {', '.join(VIEW_VARIANTS)}")
    if config.gan_type not in GAN_TYPES:
        raise ConfigError(f"--gan-type must be one of {', '.join(GAN_TYPES)}")
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if config.iters_per_epoch is not None and config.iters_per_epoch < 1:
        raise ConfigError("--iters-per-epoch must be at least 1")
    check_range("--d-dim", config.d_dim, 4, 512, fix="32 = the paper's D, 16 = the CPU demo's")


def _resolve(config: GenWarmupConfig) -> tuple[GenWarmupConfig, Path, dict[str, Any] | None]:
    """Fill data options from the saved gen-warmup (resume) or warm-up checkpoint, then the
    preset's settings; returns the config, the E_id checkpoint path and the resume state (None
    for a fresh start)."""
    run = Path(config.run)
    resume_state = None
    if config.resume:
        path = require_stage(run, STAGE, "gen-warmup")
        resume_state = load_stage(path, STAGE)
        saved = resume_state["config"]
        refuse_other_preset(config.preset, saved_preset(saved), path)
        config = dataclasses.replace(resume_config(config, saved, RESUME_MAY_CHANGE, path),
                                     preset=saved_preset(saved))
        return apply_preset(config, config.preset, GEN_WARMUP), Path(saved["init"]), resume_state
    init = Path(config.init) if config.init else require_stage(run, "warmup", "warmup")
    return apply_preset(config, config.preset or DEFAULT_PRESET, GEN_WARMUP), init, None


def _fill_from_parent(config: GenWarmupConfig, parent: Handoff) -> GenWarmupConfig:
    """Data options not given: the E_id checkpoint's hand-off (warm-up's, or ours on resume)."""
    updates = {k: getattr(parent, k) for k in ("dataset", "data_root", "camera_regex", "mesh_root")
               if getattr(config, k) is None and getattr(parent, k) is not None}
    for key in ("data_root", "mesh_root"):
        if key in updates:
            updates[key] = Path(updates[key])
    config = dataclasses.replace(config, size=parent.input_size(config.size), **updates)
    if config.dataset is None or config.data_root is None:
        raise ConfigError(
            "dataset and data root unknown: the E_id checkpoint is not a reidkit stage checkpoint",
            fix="pass --dataset and --data-root",
        )
    if config.mesh_root is None:
        raise ConfigError("no mesh folder given",
                          fix="pass --mesh-root (the output of `reidkit mesh`)")
    check_gan_size(config.size)
    return config


def build_gan(E_id: IdentityEncoder, d_dim: int = 32) -> dict[str, nn.Module]:
    """E_id plus fresh E_str, G (sized for E_id's part code) and D (`d_dim` channels wide)."""
    return {"E_id": E_id, "E_str": StructureEncoder(),
            "G": Generator(id_chunk=E_id.part_dim // 4), "D": Discriminator(dim=d_dim)}


def build_optimizers(models: dict[str, nn.Module], config: GenWarmupConfig) -> dict[str, Any]:
    """Adam for E_str + G ("gen") and for D ("dis")."""
    kw = dict(lr=config.lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
    gen = list(models["E_str"].parameters()) + list(models["G"].parameters())
    return {"gen": torch.optim.Adam(gen, **kw),
            "dis": torch.optim.Adam(models["D"].parameters(), **kw)}


def epoch_batches(n: int, config: GenWarmupConfig, epoch: int) -> list[list[tuple[int, int]]]:
    """Epoch `epoch`'s batches of (index, item seed): a permutation seeded by (seed, epoch),
    whole batches only (one short batch when there are fewer images than a batch)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 100003 + epoch))
    size = min(config.batch_size, n)
    batches = [order[i : i + size].tolist() for i in range(0, n - size + 1, size)]
    if config.iters_per_epoch:
        batches = batches[: config.iters_per_epoch]
    return [[(i, item_seed(config.seed, epoch, i)) for i in b] for b in batches]


def sample_grid(models: dict[str, nn.Module], data: MeshPairDataset, device: torch.device,
                count: int = 4) -> Any:
    """Rows of (input, original mesh, reconstruction, novel views at 90°, 180°, 270°)."""
    idx = list(range(min(count, len(data))))
    x = torch.stack([data[i][0] for i in idx]).to(device)
    meshes = [torch.stack([data.mesh(i, a) for i in idx]).to(device) for a in (0, *SAMPLE_ANGLES)]
    with torch.no_grad():
        f_id, _ = models["E_id"](x)
        views = [models["G"](models["E_str"](m), f_id) for m in meshes]
    cols = [to_uint8(x), mesh_to_uint8(meshes[0])] + [to_uint8(v) for v in views]
    return grid([[c[r] for c in cols] for r in range(len(idx))])


def _prepare_models(models: dict[str, nn.Module], device: torch.device,
                    channels_last: bool) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for module in models.values():
        module.to(device=device, memory_format=fmt)
    models["E_id"].eval()
    set_requires_grad(models["E_id"], False)


def _loader(data: MeshPairDataset, batches: list, workers: int) -> DataLoader:
    return DataLoader(SeededItems(data), batch_sampler=batches, num_workers=workers,
                      persistent_workers=False)


def run_gen_warmup(config: GenWarmupConfig) -> dict[str, Any]:
    """Train E_str/G/D against the frozen E_id; returns checkpoint path, history, samples."""
    _check(config)
    config, init, resume_state = _resolve(config)
    E_id, info = load_identity_encoder(stage_path(config.run, STAGE) if resume_state else init)
    config = _fill_from_parent(config, info["handoff"])
    device = resolve_device(config.device)
    seed_everything(config.seed)
    dataset = load_dataset(config.dataset, config.data_root, camera_regex=config.camera_regex)
    records: list[ImageRecord] = dataset.train
    data = MeshPairDataset(records, config.mesh_root, split="train", size=config.size,
                           angles=new_view_angles(config.view_variant))
    models = build_gan(E_id, config.d_dim)
    optimizers = build_optimizers(models, config)
    start_epoch, iteration, history = 0, 0, []
    if resume_state is not None:
        _restore(models, optimizers, resume_state)
        start_epoch, iteration = resume_state["epoch"], resume_state["iteration"]
        history = list(resume_state["extra"].get("history", []))
    _prepare_models(models, device, config.channels_last)
    for opt in optimizers.values():
        optimizer_to(opt, device)
    settings = _settings(config, info, init)
    handoff = _handoff(config, info["handoff"], E_id)
    log.info(f"gen-warmup: {len(records)} training images, E_id {info['arch']} "
             f"({info['embed_dim']}-d) from {init} (frozen), {describe(config, GEN_WARMUP)}, "
             f"{config.gan_type}, device {device}")
    ctx = lambda: autocast(device, config.amp)  # noqa: E731
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    workers = loader_workers(config.workers, device)
    out_path = stage_path(config.run, STAGE)
    samples: list[str] = []
    weights = GanWeights(config.lambda_img, config.lambda_feat, config.lambda_adv)
    curves = MetricsLog(config.run, STAGE, epoch=start_epoch, iteration=iteration)
    for epoch in range(start_epoch, config.epochs):
        batches = epoch_batches(len(data), config, epoch)
        sums: dict[str, float] = {}
        with log.task(f"gen-warmup epoch {epoch + 1}/{config.epochs}", len(batches)) as task:
            for b, (x, mesh_ori, mesh_new, _) in enumerate(_loader(data, batches, workers), 1):
                batch = [t.to(device, non_blocking=True).contiguous(memory_format=fmt)
                         for t in (x, mesh_ori, mesh_new)]
                terms, _ = gan_step(models, optimizers["gen"], optimizers["dis"], batch,
                                    feat_variant=config.feat_variant, gan_type=config.gan_type,
                                    weights=weights, ctx=ctx)
                iteration += 1
                curves.step(epoch + 1, b, terms, images=len(x), iteration=iteration)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                task.advance(1, **{k: terms[k] for k in ("l_rec", "l_cyc", "l_feat", "l_adv",
                                                         "d_loss")})
                if config.sample_every and iteration % config.sample_every == 0:
                    samples.append(_write_sample(models, data, device, config.run, iteration))
        means = {k: v / max(len(batches), 1) for k, v in sums.items()}
        history.append({"epoch": epoch + 1, "iteration": iteration, **means})
        curves.epoch(history[-1], iteration=iteration)
        save_stage_checkpoint(out_path, models=models, optimizers=optimizers, settings=settings,
                              handoff=handoff, dataset=dataset, epoch=epoch + 1,
                              iteration=iteration, history=history, init=init)
    curves.close()
    final = history[-1] if history else {}
    return {"checkpoint": str(out_path), "epochs": config.epochs, "iterations": iteration,
            "final": final, "history": history, "samples": samples,
            "config": config_to_dict(config)}


def _settings(config: GenWarmupConfig, info: dict[str, Any], init: Path) -> dict[str, Any]:
    """gen-warmup.pt's config: our options, the E_id file and its baseline (for `--resume`)."""
    return {**config_to_dict(config), "init": str(init), "arch": info["arch"],
            "baseline": info["handoff"].baseline, "size": list(config.size)}


def _handoff(config: GenWarmupConfig, parent: Handoff, E_id: IdentityEncoder) -> Handoff:
    """The warm-up's hand-off with our data, E_id's shape and the GAN settings train-joint
    continues with."""
    return parent.given(
        dataset=config.dataset, data_root=config.data_root, camera_regex=config.camera_regex,
        mesh_root=config.mesh_root, size=tuple(config.size), arch=E_id.arch,
        embed_dim=E_id.embed_dim, pooling=getattr(E_id, "pooling", None), preset=config.preset,
        feat_variant=config.feat_variant, gan_type=config.gan_type,
        gan_weights=(config.lambda_img, config.lambda_feat, config.lambda_adv))


def save_stage_checkpoint(path: Path, *, models: dict[str, nn.Module],
                          optimizers: dict[str, Any], settings: dict[str, Any], handoff: Handoff,
                          dataset: Any, epoch: int, iteration: int,
                          history: list[dict[str, Any]], init: Path) -> None:
    """gen-warmup.pt: the four models, both optimisers, RNG states, config and hand-off."""
    save_stage(
        path, stage=STAGE, models={k: cpu_state(m) for k, m in models.items()}, config=settings,
        epoch=epoch, iteration=iteration,
        optimizers={k: o.state_dict() for k, o in optimizers.items()},
        dataset=dataset.fingerprint(), metrics=history[-1] if history else {},
        parent=init if Path(init).is_file() else None, handoff=handoff,
        extra={"history": history, "rng": capture_rng()},
    )


def _restore(models: dict[str, nn.Module], optimizers: dict[str, Any],
             state: dict[str, Any]) -> None:
    for name, module in models.items():
        if name not in state["models"]:
            raise CheckpointError(f"gen-warmup checkpoint has no {name}",
                                  fix="start without --resume")
        module.load_state_dict(state["models"][name])
    for name, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    if "rng" in state.get("extra", {}):
        restore_rng(state["extra"]["rng"])


def _write_sample(models: dict[str, nn.Module], data: MeshPairDataset, device: torch.device,
                  run: Path, iteration: int) -> str:
    path = Path(run) / "samples" / f"gen-warmup-{iteration:07d}.png"
    save_image(sample_grid(models, data, device), path)
    return str(path)
