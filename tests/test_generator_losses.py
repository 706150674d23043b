"""GAN losses against hand computation: L_img, L_feat, LSGAN / log terms, the R1 penalty, and the
batched forward pass against a plain step-by-step one."""

from __future__ import annotations

import torch
from torch import nn

from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.structure import StructureEncoder
from reidkit.train.gan import (
    GanOutputs,
    discriminator_loss,
    feat_loss,
    gan_forward,
    generator_adv_loss,
    image_loss,
    set_requires_grad,
)


class LinearD(nn.Module):
    """Two 'scales' with closed-form outputs: s1 = <w, x>, s2 = 2<w, x> + 1 (one value each)."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.randn(1, *shape))

    def forward(self, x):
        s = (x * self.w).flatten(1).sum(1).view(-1, 1, 1, 1)
        return [s, 2 * s + 1]


def test_lsgan_generator_and_discriminator_terms():
    torch.manual_seed(0)
    D = LinearD((1, 2, 2))
    real, f1, f2 = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    w = D.w.detach()
    s = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    # generator: Σ_fakes Σ_scales 2·mean((D(fake) − 1)²)
    expected_g = sum(2 * ((s(f) - 1) ** 2).mean() + 2 * ((2 * s(f)) ** 2).mean() for f in (f1, f2))
    assert torch.allclose(generator_adv_loss(D, [f1, f2]), expected_g, rtol=1e-5)
    # discriminator, per fake and scale: mean(D(fake)²) + mean((D(real) − 1)²) + 0.01·R1;
    # R1 = mean_b ‖∇_x D_s(x)‖² = ‖w‖² at scale 1 and 4‖w‖² at scale 2.
    r1 = 0.01 * (w.pow(2).sum() + 4 * w.pow(2).sum())
    expected_d = sum(
        (s(f) ** 2).mean() + ((2 * s(f) + 1) ** 2).mean()
        + ((s(real) - 1) ** 2).mean() + ((2 * s(real)) ** 2).mean() + r1
        for f in (f1, f2)
    )
    loss, terms = discriminator_loss(D, real, [f1, f2])
    assert torch.allclose(loss, expected_d, rtol=1e-5)
    assert abs(terms["d_r1"] - 2 * float(r1)) < 1e-5


def test_r1_gradient_reaches_d_parameters():
    torch.manual_seed(0)
    D = LinearD((1, 2, 2))
    real = torch.randn(2, 1, 2, 2)
    loss, _ = discriminator_loss(D, real, [torch.zeros_like(real)], r1_weight=1.0)
    only_r1 = loss - discriminator_loss(D, real, [torch.zeros_like(real)], r1_weight=0.0)[0]
    (grad,) = torch.autograd.grad(only_r1, D.w)
    # R1 = ‖w‖² + 4‖w‖² = 5‖w‖² → gradient 10·w
    assert torch.allclose(grad, 10 * D.w.detach(), rtol=1e-5)


def test_log_form():
    torch.manual_seed(0)
    D = LinearD((1, 2, 2))
    real, fake = torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2)
    w = D.w.detach()
    s = (fake * w).flatten(1).sum(1)
    expected = -torch.log(torch.sigmoid(s)).mean() - torch.log(torch.sigmoid(2 * s + 1)).mean()
    assert torch.allclose(generator_adv_loss(D, [fake], "log"), expected, rtol=1e-5)
    sr = (real * w).flatten(1).sum(1)
    expected_d = (-torch.log(1 - torch.sigmoid(s)).mean()
                  - torch.log(1 - torch.sigmoid(2 * s + 1)).mean()
                  - torch.log(torch.sigmoid(sr)).mean()
                  - torch.log(torch.sigmoid(2 * sr + 1)).mean())
    loss, _ = discriminator_loss(D, real, [fake], gan_type="log", r1_weight=0.0)
    assert torch.allclose(loss, expected_d, rtol=1e-5)


def test_image_and_feature_losses():
    x = torch.zeros(1, 3, 2, 2)
    out = GanOutputs(
        x_ori=torch.full((1, 3, 2, 2), 0.5), x_new=torch.zeros(1, 3, 2, 2),
        x_cyc=torch.full((1, 3, 2, 2), -2.0), f_id=torch.tensor([[1.0, 2.0]]),
        f=torch.zeros(1, 4), f_id_new=torch.tensor([[1.0, 0.0]]), f_new=torch.zeros(1, 4),
        f_id_ori=torch.tensor([[2.0, 2.0]]), f_id_cyc=torch.tensor([[4.0, 6.0]]),
    )
    rec, cyc = image_loss(x, out)
    assert float(rec) == 0.5 and float(cyc) == 2.0
    assert float(feat_loss(out, "paper")) == 1.0 + 0.5  # |f−f_new| = 1, |f−f_ori| = 0.5
    assert float(feat_loss(out, "reference")) == 0.5 + 3.5  # |f−f_ori| + |f−f_cyc|


def _frozen_e_id_gan() -> tuple[IdentityEncoder, StructureEncoder, Generator, torch.Tensor,
                                torch.Tensor, torch.Tensor]:
    """Seeded E_id (frozen, eval mode), E_str, G and a batch (x, two meshes) of two images."""
    torch.manual_seed(0)
    E_id = IdentityEncoder("resnet18").eval()
    set_requires_grad(E_id, False)
    E_str, G = StructureEncoder(), Generator(512)
    x, m1, m2 = torch.randn(2, 3, 64, 40), torch.randn(2, 1, 64, 40), torch.randn(2, 1, 64, 40)
    return E_id, E_str, G, x, m1, m2


def test_batched_forward_equals_step_by_step():
    E_id, E_str, G, x, m1, m2 = _frozen_e_id_gan()
    with torch.no_grad():
        out = gan_forward(E_id, E_str, G, x, m1, m2, feat_variant="reference")
        f_id, f = E_id(x)
        x_ori, x_new = G(E_str(m1), f_id), G(E_str(m2), f_id)
        f_id_new, f_new = E_id(x_new)
        x_cyc = G(E_str(m1), f_id_new)
    for got, want in ((out.x_ori, x_ori), (out.x_new, x_new), (out.x_cyc, x_cyc),
                      (out.f_id_new, f_id_new), (out.f_new, f_new), (out.f, f),
                      (out.f_id_ori, E_id(x_ori)[0]), (out.f_id_cyc, E_id(x_cyc)[0])):
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)


def test_frozen_e_id_passes_gradient_to_g_only():
    E_id, E_str, G, x, m1, m2 = _frozen_e_id_gan()
    out = gan_forward(E_id, E_str, G, x, m1, m2)
    feat_loss(out).backward()  # depends on G only through E_id(generated images)
    assert G.mlp_scale[0].fc1.weight.grad is not None
    assert float(G.mlp_scale[0].fc1.weight.grad.abs().sum()) > 0
    assert all(p.grad is None for p in E_id.parameters())
