"""The pieces train-joint assembles around its loop: what gen-warmup handed over, the models and
optimisers, memory initialisation, per-epoch relabelling, evaluation, and the checkpoint (write,
read back, restore) that makes a run resumable."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reidkit import log
from reidkit.config import config_to_dict
from reidkit.data.datasets import load_dataset
from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.errors import CheckpointError
from reidkit.models.discriminator import Discriminator, dim_of
from reidkit.models.generator import Generator
from reidkit.models.loading import identity_encoder_from_state
from reidkit.models.memory import MemoryBank
from reidkit.models.structure import StructureEncoder
from reidkit.runs import Handoff, read_handoff, save_stage
from reidkit.train.distributed import (
    DistContext,
    average_gradients,
    barrier,
    broadcast_,
    broadcast_module,
    gather_objects,
    sync_batchnorm,
)
from reidkit.train.presets import (
    DEFAULT_PRESET,
    TRAIN_JOINT,
    apply_preset,
    refuse_other_preset,
    saved_preset,
)
from reidkit.train.rng import capture_rng, restore_rng
from reidkit.train.scaffold import cpu_state

RHO_DEFAULT = {"msmt": 1.2e-3}
RHO_FALLBACK = 2e-3
# hand-off values train-joint.pt's config also lists, so that it reads whole on its own
RECORDED = ("dataset", "data_root", "mesh_root", "arch", "camera_regex", "feat_variant",
            "gan_type")


def default_rho(dataset: str) -> float:
    """The paper's DBSCAN rho: 2e-3 on Market/Duke, 1.2e-3 on MSMT17."""
    return RHO_DEFAULT.get(dataset, RHO_FALLBACK)


def upstream_handoff(state: dict[str, Any], path: Path) -> Handoff:
    """What gen-warmup.pt hands over: the data, E_id's shape, its GAN loss settings (files from
    before the GAN settings were recorded: the paper's L_feat and LSGAN)."""
    handoff = read_handoff(state).require(("dataset", "data_root", "mesh_root", "arch", "size"),
                                          path, fix="re-run `reidkit gen-warmup`")
    return dataclasses.replace(handoff, feat_variant=handoff.feat_variant or "paper",
                               gan_type=handoff.gan_type or "lsgan")


def resolve_preset(config: Any, upstream: Handoff, resume_state: dict[str, Any] | None,
                   path: Path) -> Any:
    """Fill the preset fields left unset. Fresh run: preset as given, else gen-warmup's, else
    paper. Resume: the saved run's preset (a different explicit one is refused) and its saved
    values for the fields not given again."""
    if resume_state is None:
        preset = config.preset or upstream.preset or DEFAULT_PRESET
        return apply_preset(config, preset, TRAIN_JOINT)
    saved = resume_state["config"]
    preset = saved_preset(saved)
    refuse_other_preset(config.preset, preset, path)
    kept = {k: saved[k] for k in TRAIN_JOINT[preset]
            if getattr(config, k) is None and saved.get(k) is not None}
    return apply_preset(dataclasses.replace(config, **kept), preset, TRAIN_JOINT)


def run_handoff(config: Any, upstream: Handoff) -> Handoff:
    """What this run hands on: gen-warmup's record with train-joint's baseline (as given, else as
    handed over), its temporal model (jvtc+) and its preset."""
    baseline = config.baseline if config.baseline is not None else upstream.baseline
    temporal = config.baseline == "jvtc+" or (config.baseline is None and upstream.temporal)
    return dataclasses.replace(upstream, baseline=baseline, temporal=temporal,
                               preset=config.preset)


def load_records(info: Handoff) -> ReidDataset:
    """The dataset gen-warmup trained on."""
    return load_dataset(info.dataset, info.data_root, camera_regex=info.camera_regex)


def build_models(upstream: dict[str, Any], path: Path, ctx: DistContext) -> dict[str, nn.Module]:
    """E_id (rebuilt in the shape gen-warmup.pt holds), E_str, G, D with gen-warmup's weights on
    this rank's device, the same on all ranks."""
    missing = [k for k in ("E_id", "E_str", "G", "D") if k not in upstream["models"]]
    if missing:
        raise CheckpointError(f"gen-warmup checkpoint has no {', '.join(missing)} weights",
                              path=path, fix="re-run `reidkit gen-warmup`")
    E_id = identity_encoder_from_state(upstream["models"]["E_id"], path)
    models = {"E_id": E_id, "E_str": StructureEncoder(),
              "G": Generator(id_chunk=E_id.part_dim // 4),
              "D": Discriminator(dim=dim_of(upstream["models"]["D"]))}
    for name in ("E_str", "G", "D"):
        models[name].load_state_dict(upstream["models"][name])
    models["E_id"] = sync_batchnorm(models["E_id"], ctx)
    for module in models.values():
        module.to(ctx.device)
        broadcast_module(module, ctx)
    return models


def build_optimizers(models: dict[str, nn.Module], config: Any, ctx: DistContext,
                     carried: dict[str, Any] | None = None):
    """SGD (nesterov) for E_id; Adam (betas 0, 0.999) for E_str+G and for D, starting from the
    `carried` Adam moments if given; StepLR ×lr_gamma (G/D constant without `gan_lr_decay`)."""
    optimizers: dict[str, torch.optim.Optimizer] = {
        "id": torch.optim.SGD(models["E_id"].parameters(), lr=config.lr_id, momentum=0.9,
                              nesterov=True, weight_decay=config.weight_decay),
    }
    owners: dict[str, list[nn.Module]] = {"id": [models["E_id"]]}
    if not config.no_gan:
        gen_params = list(models["E_str"].parameters()) + list(models["G"].parameters())
        optimizers["gen"] = torch.optim.Adam(gen_params, lr=config.lr_gan, betas=(0.0, 0.999),
                                             weight_decay=config.weight_decay)
        optimizers["dis"] = torch.optim.Adam(models["D"].parameters(), lr=config.lr_gan,
                                             betas=(0.0, 0.999), weight_decay=config.weight_decay)
        owners.update(gen=[models["E_str"], models["G"]], dis=[models["D"]])
        if carried is not None:
            for key in ("gen", "dis"):
                carry_moments(optimizers[key], carried[key], key)
    if ctx.enabled:
        for key, opt in optimizers.items():
            opt.register_step_pre_hook(
                lambda _opt, _args, _kwargs, mods=owners[key]: average_gradients(mods, ctx))
    gan_gamma = config.lr_gamma if config.gan_lr_decay else 1.0
    schedulers = {
        k: torch.optim.lr_scheduler.StepLR(o, step_size=config.lr_step,
                                           gamma=config.lr_gamma if k == "id" else gan_gamma)
        for k, o in optimizers.items()
    }
    return optimizers, schedulers


def gen_warmup_moments(upstream: dict[str, Any], path: Path) -> dict[str, Any]:
    """gen-warmup's Adam states of E_str+G ("gen") and D ("dis"), to continue from."""
    saved = upstream.get("optimizers") or {}
    missing = [k for k in ("gen", "dis") if not (saved.get(k) or {}).get("state")]
    if missing:
        raise CheckpointError(
            f"gen-warmup checkpoint holds no Adam state for {', '.join(missing)} to carry over",
            path=path,
            fix="pass --no-carry-adam (fresh Adam moments), or re-run `reidkit gen-warmup`",
        )
    return {k: saved[k] for k in ("gen", "dis")}


def carry_moments(opt: torch.optim.Optimizer, saved: dict[str, Any], name: str) -> None:
    """Load a saved Adam state's moments and step counts into `opt`, keeping `opt`'s own lr,
    betas and weight decay (the reference reloads stage 2's optimizer.pt the same way)."""
    groups = opt.state_dict()["param_groups"]
    params = [p for g in opt.param_groups for p in g["params"]]
    ids = [i for g in saved["param_groups"] for i in g["params"]]
    shapes = [tuple(saved["state"][i]["exp_avg"].shape) if i in saved["state"] else None
              for i in ids]
    if len(ids) != len(params) or any(s is not None and s != tuple(p.shape)
                                       for s, p in zip(shapes, params, strict=True)):
        raise CheckpointError(f"gen-warmup's '{name}' Adam state does not fit the networks",
                              fix="pass --no-carry-adam, or re-run `reidkit gen-warmup`")
    opt.load_state_dict({"state": saved["state"], "param_groups": [
        {**g, "params": s["params"]} for g, s in zip(groups, saved["param_groups"], strict=True)]})


def train_dataset(config: Any, info: Handoff, records: list[ImageRecord]):
    """Items the step consumes: (x, mesh_ori, mesh_new, index), or (x, index) for --no-gan."""
    size = info.size
    if config.no_gan:
        from reidkit.data.augment import train_transform
        from reidkit.data.image_dataset import ImageDataset
        from reidkit.data.transforms import test_transform

        transform = (train_transform(size, flip=True, erasing=0.5, color_jitter=0.5)
                     if config.augment else test_transform(size))
        return ImageDataset(records, transform)
    from reidkit.data.mesh_pairs import MeshPairDataset, new_view_angles
    from reidkit.models.structure import check_gan_size

    check_gan_size(size)
    return MeshPairDataset(records, info.mesh_root, split="train", size=size,
                           angles=new_view_angles(config.view_variant))


def init_memory(memory: MemoryBank, E_id: nn.Module, records: list[ImageRecord],
                size: tuple[int, int], ctx: DistContext) -> None:
    """Memory = L2-normalised f of every training image (rank 0 extracts, all ranks receive)."""
    if ctx.is_main:
        from reidkit.evaluation.features import extract_features

        feats = extract_features(E_id, records, size=size, batch_size=64, device=ctx.device,
                                 desc="memory bank features")
        memory.init_features(feats.to(ctx.device))
    broadcast_(memory.features, ctx)


def train_timeline(dataset: ReidDataset):
    """Camera timelines of the training images (JVTC+ joint visual-temporal clustering)."""
    from reidkit.cluster.temporal import dataset_timelines

    return dataset_timelines(dataset, splits=("train",))["train"]


def relabel(memory: MemoryBank, config: Any, rho: float | None, timeline: Any,
            ctx: DistContext) -> np.ndarray:
    """This epoch's pseudo labels from the memory bank: clustered on rank 0, broadcast."""
    labels = torch.empty(len(memory), dtype=torch.long, device=ctx.device)
    if ctx.is_main:
        found = cluster_memory(memory.features.cpu().numpy(), config, rho, timeline)
        labels.copy_(torch.from_numpy(found))
    broadcast_(labels, ctx)
    memory.set_labels(labels)
    return labels.cpu().numpy()


def cluster_memory(features: np.ndarray, config: Any, rho: float | None,
                   timeline: Any) -> np.ndarray:
    """Jaccard + DBSCAN; with a timeline (JVTC+), visual clusters first fit the temporal model,
    then the joint visual-temporal distance is mixed in (`temporal_pseudo_labels`)."""
    kwargs = dict(eps=config.eps, rho=None if config.eps is not None else rho, k1=config.k1,
                  k2=config.k2, min_samples=config.min_samples)
    if timeline is None:
        from reidkit.cluster.labels import pseudo_labels

        return np.asarray(pseudo_labels(features, **kwargs), dtype=np.int64)
    from reidkit.cluster.temporal import temporal_pseudo_labels

    labels, _, _ = temporal_pseudo_labels(features, timeline, **kwargs)
    return np.asarray(labels, dtype=np.int64)


def evaluate(E_id: nn.Module, dataset: ReidDataset, info: Handoff,
             ctx: DistContext) -> dict[str, float]:
    """Visual test-set mAP/CMC of E_id (rank 0; reported only, never used to pick a
    checkpoint)."""
    metrics: dict[str, float] = {}
    if ctx.is_main:
        from reidkit.evaluation.engine import evaluate_model

        result = evaluate_model(E_id, dataset, size=info.size, device=ctx.device)
        metrics = {f"test_{k}": float(result[k]) for k in ("mAP", "rank1", "rank5") if k in result}
    barrier(ctx)
    return metrics


def describe(record: dict[str, Any]) -> str:
    """One progress line for an epoch: clusters, outliers, loss terms, lr, throughput, test."""
    parts = [f"epoch {record['epoch']}: {record['clusters']} clusters",
             f"{record['outliers']} outliers"]
    parts += [f"{k}={v:.4g}" for k, v in record.items() if k.startswith(("l_", "d_"))]
    parts.append(f"lr_id={record['lr_id']:.3g}")
    if record.get("lr_gan") is not None:
        parts.append(f"lr_gan={record['lr_gan']:.3g}")
    parts.append(f"{record['images_per_s']:.1f} img/s")
    parts += [f"{k}={v:.2%}" for k, v in record.items() if k.startswith("test_")]
    return ", ".join(parts)


def save(*, config: Any, info: Handoff, dataset: ReidDataset, parent: Path,
         models: dict[str, nn.Module], optimizers: dict[str, Any], schedulers: dict[str, Any],
         memory: MemoryBank, sampling: torch.Generator, path: Path, ctx: DistContext, epoch: int,
         batch: int, iteration: int, history: list[dict[str, Any]]) -> None:
    """Write train-joint.pt (rank 0; every rank's RNG states gathered into it)."""
    rng = gather_objects({"rng": capture_rng(), "sampling": sampling.get_state()}, ctx)
    if ctx.is_main:
        states = {**{k: o.state_dict() for k, o in optimizers.items()},
                  **{f"scheduler_{k}": s.state_dict() for k, s in schedulers.items()}}
        handed = info.to_dict()
        recorded = {**{k: handed[k] for k in RECORDED}, **config_to_dict(config),
                    "size": handed["size"], "baseline": info.baseline}
        save_stage(
            path, stage="train-joint", models={k: cpu_state(m) for k, m in models.items()},
            config=recorded,
            epoch=epoch, iteration=iteration, optimizers=states,
            dataset=dataset.fingerprint(), metrics=history[-1] if history else {},
            parent=parent, handoff=info,
            extra={"batch": batch, "history": history, "memory": cpu_state(memory),
                   "rng": rng, "world_size": ctx.world_size,
                   "loss_variant": config.loss_variant, "preset": config.preset},
        )
    barrier(ctx)


def restore(state: dict[str, Any], models: dict[str, nn.Module], optimizers: dict[str, Any],
            schedulers: dict[str, Any], memory: MemoryBank, sampling: torch.Generator,
            ctx: DistContext) -> None:
    """Put models, optimisers, schedulers, memory and RNG states back as they were saved."""
    for name, module in models.items():
        module.load_state_dict(state["models"][name])
    for key, opt in optimizers.items():
        if key not in state["optimizers"]:
            raise CheckpointError(f"train-joint checkpoint has no '{key}' optimiser state",
                                  fix="resume with the same --no-gan setting as the saved run")
        opt.load_state_dict(state["optimizers"][key])
        schedulers[key].load_state_dict(state["optimizers"][f"scheduler_{key}"])
    memory.load_state_dict(state["extra"]["memory"])
    saved = state["extra"]["rng"]
    if state["extra"]["batch"] and state["extra"]["world_size"] != ctx.world_size:
        raise CheckpointError(
            f"checkpoint is mid-epoch on {state['extra']['world_size']} processes, this run has "
            f"{ctx.world_size}", fix="resume with the same number of processes")
    mine = saved[ctx.rank] if ctx.rank < len(saved) else saved[0]
    restore_rng(mine["rng"])
    sampling.set_state(mine["sampling"])
    log.info(f"restored train-joint state: epoch {state['epoch']}, iteration {state['iteration']}")
