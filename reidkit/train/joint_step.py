"""One train-joint iteration: the GAN step (reused from `reidkit.train.gan`) and the view-invariant
contrast on the memory bank, with one backward of L_all; or the contrast-only ablation.
`--gan-id-weight` below 1 scales the share of E_id's gradient that comes from L_gan (an
ablation: with 0, E_id learns only from the view-invariant terms, G still from everything).

Order inside the GAN iteration follows the reference's stage 3 (and gen-warmup): forward,
D step on the detached fakes, then one backward of `L_all = L_gan + L_vi + L'_vi + L''_vi`
against the updated D, stepping E_id (SGD) and E_str + G (Adam). The memory bank is then
updated with the original view's f of every rank's batch (all-gathered).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from reidkit.models.memory import MemoryBank
from reidkit.train.contrastive import contrast_only_loss, view_invariant_losses
from reidkit.train.distributed import DistContext, all_gather_cat
from reidkit.train.gan import (
    GanWeights,
    discriminator_step,
    gan_forward,
    gan_loss,
    set_requires_grad,
)

LOSS_TERMS = ("gan", "vi", "vi1", "vi2")


@dataclass
class StepSettings:
    """What one iteration computes (from the train-joint config and the gen-warmup config)."""

    losses: tuple[str, ...] = LOSS_TERMS
    tau: float = 0.04
    num_negatives: int = 8192
    variant: str = "paper"
    feat_variant: str = "paper"
    gan_type: str = "lsgan"
    weights: GanWeights = field(default_factory=GanWeights)
    gan_id_weight: float = 1.0
    bn_stats: str = "real"
    ctx: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


def update_memory(memory: MemoryBank, f: torch.Tensor, index: torch.Tensor,
                  ctx: DistContext) -> None:
    """Momentum update with every rank's batch, so that all ranks keep the same bank."""
    f = F.normalize(f.detach().float(), dim=1)
    memory.update(all_gather_cat(index, ctx), all_gather_cat(f, ctx))


def backward_l_all(l_gan: torch.Tensor | None, l_vi: torch.Tensor | None, E_id: nn.Module,
              gan_id_weight: float) -> None:
    """Backpropagate L_all = L_gan + L_vi-terms, with L_gan's share of E_id's gradient scaled
    by `gan_id_weight` (1 = one plain backward of the sum)."""
    parts = [loss for loss in (l_gan, l_vi) if loss is not None]
    if l_gan is None or gan_id_weight == 1.0:
        sum(parts).backward()
        return
    l_gan.backward(retain_graph=l_vi is not None)
    for parameter in E_id.parameters():
        if parameter.grad is not None:
            parameter.grad.mul_(gan_id_weight)
    if l_vi is not None:
        l_vi.backward()


def joint_step(
    models: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    memory: MemoryBank,
    batch: tuple[torch.Tensor, ...],
    generator: torch.Generator,
    settings: StepSettings,
    ctx: DistContext,
) -> dict[str, float]:
    """One GCL iteration on (x, mesh_ori, mesh_new, index); returns every loss term."""
    E_id, E_str, G, D = (models[k] for k in ("E_id", "E_str", "G", "D"))
    x, mesh_ori, mesh_new, index = batch
    with settings.ctx():
        out = gan_forward(E_id, E_str, G, x, mesh_ori, mesh_new,
                          feat_variant=settings.feat_variant, bn_stats=settings.bn_stats)
    terms: dict[str, float] = {}
    use_gan = "gan" in settings.losses
    if use_gan:
        terms.update(discriminator_step(D, optimizers["dis"], x, out.fakes,
                                        gan_type=settings.gan_type, ctx=settings.ctx))
    set_requires_grad(D, False)
    optimizers["id"].zero_grad(set_to_none=True)
    optimizers["gen"].zero_grad(set_to_none=True)
    l_gan = l_vi = None
    if use_gan:
        with settings.ctx():
            l_gan, gan_terms = gan_loss(D, x, out, weights=settings.weights,
                                        feat_variant=settings.feat_variant,
                                        gan_type=settings.gan_type)
        l_gan = l_gan.float()
        terms.update(gan_terms)
    vi_terms = tuple(t for t in settings.losses if t != "gan")
    if vi_terms:
        vi = view_invariant_losses(out.f, out.f_new, memory, index, generator, tau=settings.tau,
                                   num_negatives=settings.num_negatives,
                                   variant=settings.variant, terms=vi_terms)
        l_vi = sum(vi.values())
        terms.update({f"l_{name}": float(value.detach()) for name, value in vi.items()})
    backward_l_all(l_gan, l_vi, E_id, settings.gan_id_weight)
    optimizers["id"].step()
    optimizers["gen"].step()
    set_requires_grad(D, True)
    update_memory(memory, out.f, index, ctx)
    terms["l_all"] = sum(float(loss.detach()) for loss in (l_gan, l_vi) if loss is not None)
    return terms


def contrast_step(
    models: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    memory: MemoryBank,
    batch: tuple[torch.Tensor, ...],
    generator: torch.Generator,
    settings: StepSettings,
    ctx: DistContext,
) -> dict[str, float]:
    """The contrast-only ablation (`--no-gan`): L_vi^woGAN on (x, index), E_id alone trains."""
    x, index = batch[0], batch[-1]
    optimizers["id"].zero_grad(set_to_none=True)
    with settings.ctx():
        _, f = models["E_id"](x)
    loss = contrast_only_loss(f, memory, index, generator, tau=settings.tau,
                              num_negatives=settings.num_negatives, variant=settings.variant)
    loss.backward()
    optimizers["id"].step()
    update_memory(memory, f, index, ctx)
    value = float(loss.detach())
    return {"l_vi_wogan": value, "l_all": value}
