"""The GAN half of GCL as reusable pieces: one step's forward pass, L_img, L_feat, the adversarial
losses (LSGAN + R1 as the reference, or the paper's log form), the D step and
`L_gan = 5·L_img + 5·L_feat + L_adv`. gen-warmup and train-joint both build on these.

Shapes: x (B, 3, H, W) ImageNet-normalised; meshes (B, 1, H, W) in [-1, 1]; f_id (B, part_dim).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

FEAT_VARIANTS = ("paper", "reference")
# which of E_id's train-mode forwards update its BatchNorm running statistics (train-joint)
BN_STATS = ("real", "all")
GAN_TYPES = ("lsgan", "log")
R1_WEIGHT = 0.01
Ctx = Callable[[], contextlib.AbstractContextManager]


@dataclass
class GanOutputs:
    """Everything one forward pass produces (the paper's reconstruction, novel view and cycle)."""

    x_ori: torch.Tensor  # reconstruction G(s_ori, f_id)
    x_new: torch.Tensor  # novel view G(s_new, f_id)
    x_cyc: torch.Tensor  # cycle G(s_ori, f_id_new)
    f_id: torch.Tensor  # part code of the real image
    f: torch.Tensor  # 512-d embedding of the real image (not normalised)
    f_id_new: torch.Tensor
    f_new: torch.Tensor  # 512-d embedding of the novel view (train-joint's L_vi)
    f_id_ori: torch.Tensor
    f_id_cyc: torch.Tensor | None = None  # only for the reference L_feat

    @property
    def fakes(self) -> list[torch.Tensor]:
        """The three generated images D judges."""
        return [self.x_ori, self.x_new, self.x_cyc]


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Switch parameter gradients of a whole module (freezing E_id, or D during the G step)."""
    for p in module.parameters():
        p.requires_grad_(flag)


def _num(value: torch.Tensor) -> float:
    return float(value.detach())


def _trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


@contextlib.contextmanager
def running_stats_kept(module: nn.Module) -> Iterator[None]:
    """BatchNorm inside normalises with the batch's statistics as usual but leaves its running
    statistics alone (momentum 0), so generated images do not shift what E_id tests with."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, momentum in zip(norms, saved, strict=True):
            norm.momentum = momentum


def gan_forward(
    E_id: nn.Module,
    E_str: nn.Module,
    G: nn.Module,
    x: torch.Tensor,
    mesh_ori: torch.Tensor,
    mesh_new: torch.Tensor,
    *,
    feat_variant: str = "paper",
    bn_stats: str = "all",
) -> GanOutputs:
    """One step's forward pass. Gradients flow through E_id into G even when E_id is frozen.

    Calls whose batch composition cannot change the result are batched together: E_str on both
    meshes and G on both structures always (their norms are per sample), and E_id on the
    generated images when E_id is in eval mode (in train mode BatchNorm statistics depend on
    the batch, so they run separately, in the reference's order). `bn_stats="real"`: in train
    mode only the real images update E_id's BatchNorm running statistics.
    """
    if feat_variant not in FEAT_VARIANTS:
        raise ValueError(f"feat_variant must be one of {FEAT_VARIANTS}")
    if bn_stats not in BN_STATS:
        raise ValueError(f"bn_stats must be one of {BN_STATS}")
    b = x.shape[0]
    with torch.set_grad_enabled(torch.is_grad_enabled() and _trainable(E_id)):
        f_id, f = E_id(x)
    s_ori, s_new = E_str(torch.cat([mesh_ori, mesh_new])).split(b)
    x_ori, x_new = G(torch.cat([s_ori, s_new]), torch.cat([f_id, f_id])).split(b)
    generated = (running_stats_kept(E_id) if bn_stats == "real" and E_id.training
                 else contextlib.nullcontext())
    with generated:
        if E_id.training:
            f_id_ori, _ = E_id(x_ori)
            f_id_new, f_new = E_id(x_new)
        else:
            ids, embs = E_id(torch.cat([x_new, x_ori]))
            (f_id_new, f_id_ori), f_new = ids.split(b), embs[:b]
        x_cyc = G(s_ori, f_id_new)
        f_id_cyc = E_id(x_cyc)[0] if feat_variant == "reference" else None
    return GanOutputs(x_ori, x_new, x_cyc, f_id, f, f_id_new, f_new, f_id_ori, f_id_cyc)


def l1(a: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error against a detached target."""
    return (a - target.detach()).abs().mean()


def image_loss(x: torch.Tensor, out: GanOutputs) -> tuple[torch.Tensor, torch.Tensor]:
    """L_img's two terms: (|x − x_ori|₁, |x − x_cyc|₁)."""
    return l1(out.x_ori, x), l1(out.x_cyc, x)


def feat_loss(out: GanOutputs, variant: str = "paper") -> torch.Tensor:
    """L_feat. paper (eq. 2): |f_id − f_id_new|₁ + |f_id − f_id_ori|₁. reference (what the
    authors' trainer computes): |f_id − f_id_ori|₁ + |f_id − f_id_cyc|₁."""
    if variant == "paper":
        return l1(out.f_id_new, out.f_id) + l1(out.f_id_ori, out.f_id)
    if variant == "reference":
        if out.f_id_cyc is None:
            raise ValueError("reference L_feat needs f_id_cyc: run gan_forward with "
                             "feat_variant='reference'")
        return l1(out.f_id_ori, out.f_id) + l1(out.f_id_cyc, out.f_id)
    raise ValueError(f"feat variant must be one of {FEAT_VARIANTS}")


def generator_adv_loss(
    D: nn.Module, fakes: Sequence[torch.Tensor], gan_type: str = "lsgan"
) -> torch.Tensor:
    """Σ over fakes and scales: LSGAN 2·mean((D(fake) − 1)²), log form mean(softplus(−D(fake)))
    (= −log σ(D(fake)), the non-saturating log loss)."""
    n = len(fakes)
    outs = D(torch.cat(list(fakes)))  # D has no batch-dependent layer: one call for all fakes
    if gan_type == "lsgan":
        return sum(2 * n * ((o - 1) ** 2).mean() for o in outs)
    if gan_type == "log":
        return sum(n * F.softplus(-o).mean() for o in outs)
    raise ValueError(f"gan_type must be one of {GAN_TYPES}")


def r1_penalty(out: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean over the batch of ‖∇_x Σ D(x)‖² (x = real, which must require grad); differentiable."""
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def discriminator_loss(
    D: nn.Module,
    real: torch.Tensor,
    fakes: Sequence[torch.Tensor],
    *,
    gan_type: str = "lsgan",
    r1_weight: float = R1_WEIGHT,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The reference's D loss summed over the fakes: per fake and scale s,
    mean(D_s(fake)²) + mean((D_s(real) − 1)²) + r1_weight·R1_s(real) (log form: softplus terms).

    The real terms do not depend on the fake, so D(real) and its R1 are computed once and counted
    once per fake, which gives the same value and gradient as the reference's three calls.
    """
    if gan_type not in GAN_TYPES:
        raise ValueError(f"gan_type must be one of {GAN_TYPES}")
    n = len(fakes)
    real = real.detach().requires_grad_(True)
    outs_fake = D(torch.cat([f.detach() for f in fakes]))
    outs_real = D(real)
    fake_term = real_term = reg = 0.0
    for of, orl in zip(outs_fake, outs_real, strict=True):
        if gan_type == "lsgan":
            fake_term = fake_term + n * (of**2).mean()
            real_term = real_term + n * ((orl - 1) ** 2).mean()
        else:
            fake_term = fake_term + n * F.softplus(of).mean()
            real_term = real_term + n * F.softplus(-orl).mean()
        reg = reg + n * r1_weight * r1_penalty(orl.float(), real)
    loss = fake_term + real_term + reg
    return loss, {"d_fake": _num(fake_term), "d_real": _num(real_term), "d_r1": _num(reg)}


def discriminator_step(
    D: nn.Module,
    opt: torch.optim.Optimizer,
    real: torch.Tensor,
    fakes: Sequence[torch.Tensor],
    *,
    gan_type: str = "lsgan",
    r1_weight: float = R1_WEIGHT,
    ctx: Ctx = contextlib.nullcontext,
) -> dict[str, float]:
    """One D update on detached fakes; returns the loss terms; `ctx` wraps the forward
    (autocast)."""
    set_requires_grad(D, True)
    opt.zero_grad(set_to_none=True)
    with ctx():
        loss, terms = discriminator_loss(D, real, fakes, gan_type=gan_type, r1_weight=r1_weight)
    loss.backward()
    opt.step()
    return {"d_loss": _num(loss), **terms}


@dataclass
class GanWeights:
    """λ's of L_gan (paper: 5, 5, 1; the reference's split λ_img is rec = cyc = 5)."""

    img: float = 5.0
    feat: float = 5.0
    adv: float = 1.0


def gan_loss(
    D: nn.Module,
    x: torch.Tensor,
    out: GanOutputs,
    *,
    weights: GanWeights | None = None,
    feat_variant: str = "paper",
    gan_type: str = "lsgan",
) -> tuple[torch.Tensor, dict[str, float]]:
    """L_gan = λ_img·L_img + λ_feat·L_feat + λ_adv·L_adv for the G side (D's parameters should
    not require grad here: use `set_requires_grad(D, False)`)."""
    w = weights or GanWeights()
    rec, cyc = image_loss(x, out)
    feat = feat_loss(out, feat_variant)
    adv = generator_adv_loss(D, out.fakes, gan_type)
    total = w.img * (rec + cyc) + w.feat * feat + w.adv * adv
    terms = {"l_rec": _num(rec), "l_cyc": _num(cyc), "l_feat": _num(feat), "l_adv": _num(adv)}
    return total, {"l_gan": _num(total), **terms}


def gan_step(
    models: dict[str, nn.Module],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    batch: Sequence[torch.Tensor],
    *,
    feat_variant: str = "paper",
    gan_type: str = "lsgan",
    weights: GanWeights | None = None,
    ctx: Ctx = contextlib.nullcontext,
) -> tuple[dict[str, float], GanOutputs]:
    """One gen-warmup iteration (as the reference: forward, D step, then G step against the
    updated D). `models` holds E_id, E_str, G, D; `opt_g` steps E_str and G; E_id is left as
    given (frozen in gen-warmup). `batch` = (x, mesh_ori, mesh_new, ...)."""
    E_id, E_str, G, D = (models[k] for k in ("E_id", "E_str", "G", "D"))
    x, mesh_ori, mesh_new = batch[0], batch[1], batch[2]
    with ctx():
        out = gan_forward(E_id, E_str, G, x, mesh_ori, mesh_new, feat_variant=feat_variant)
    d_terms = discriminator_step(D, opt_d, x, out.fakes, gan_type=gan_type, ctx=ctx)
    set_requires_grad(D, False)
    opt_g.zero_grad(set_to_none=True)
    with ctx():
        total, g_terms = gan_loss(D, x, out, weights=weights, feat_variant=feat_variant,
                                  gan_type=gan_type)
    total.backward()
    opt_g.step()
    set_requires_grad(D, True)
    return {**g_terms, **d_terms}, out
