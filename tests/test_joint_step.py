"""The backward of L_all: with --gan-id-weight w, E_id receives w·∇L_gan + ∇L_vi and the
generator receives ∇L_gan + ∇L_vi, checked against autograd.grad of each loss on its own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.train.joint_step import backward_l_all


def _losses(E_id: nn.Module, G: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two losses sharing a graph through E_id and G, as L_gan and L_vi do."""
    f = E_id(x)
    fake = G(f)
    f_new = E_id(fake)
    l_gan = (fake - x).abs().mean() + (f - f_new).abs().mean()
    l_vi = -(torch.nn.functional.cosine_similarity(f, f_new)).mean() + f_new.pow(2).mean()
    return l_gan, l_vi


@pytest.mark.parametrize("weight", [1.0, 0.3, 0.0])
def test_gan_id_weight_scales_only_e_ids_share_of_l_gan(weight):
    torch.manual_seed(0)
    E_id, G = nn.Linear(6, 6), nn.Linear(6, 6)
    x = torch.randn(5, 6)
    params_id, params_g = list(E_id.parameters()), list(G.parameters())
    l_gan, l_vi = _losses(E_id, G, x)
    grad_gan = torch.autograd.grad(l_gan, params_id + params_g, retain_graph=True)
    grad_vi = torch.autograd.grad(l_vi, params_id + params_g)
    l_gan, l_vi = _losses(E_id, G, x)
    backward_l_all(l_gan, l_vi, E_id, weight)
    for i, p in enumerate(params_id):
        torch.testing.assert_close(p.grad, weight * grad_gan[i] + grad_vi[i])
    for j, p in enumerate(params_g):
        k = len(params_id) + j
        torch.testing.assert_close(p.grad, grad_gan[k] + grad_vi[k])


def test_l_gan_alone_with_zero_weight_leaves_e_id_without_gradient():
    torch.manual_seed(1)
    E_id, G = nn.Linear(4, 4), nn.Linear(4, 4)
    l_gan, _ = _losses(E_id, G, torch.randn(3, 4))
    backward_l_all(l_gan, None, E_id, 0.0)
    assert all(float(p.grad.abs().sum()) == 0.0 for p in E_id.parameters())
    assert all(float(p.grad.abs().sum()) > 0.0 for p in G.parameters())


class _TinyId(nn.Module):
    """E_id stand-in: conv + BatchNorm, (f_id, f) from the pooled map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.bn(self.conv(x)).mean((2, 3))
        return pooled, 2 * pooled


class _TinyG(nn.Module):
    """G stand-in: an image from the structure map and the part code."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)

    def forward(self, s: torch.Tensor, f_id: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(s) + f_id[:, :3, None, None])


@pytest.mark.parametrize("bn_stats", ["real", "all"])
def test_bn_stats_real_keeps_generated_images_out_of_e_ids_running_statistics(bn_stats):
    import copy

    from reidkit.train.gan import gan_forward

    torch.manual_seed(2)
    E_id, E_str, G = _TinyId().train(), nn.Conv2d(1, 2, 1), _TinyG()
    x, mesh_ori, mesh_new = torch.randn(4, 3, 8, 4), *torch.randn(2, 4, 1, 8, 4)
    before = copy.deepcopy(E_id)
    out = gan_forward(E_id, E_str, G, x, mesh_ori, mesh_new, bn_stats=bn_stats)
    expected = copy.deepcopy(before)
    seen = [x] if bn_stats == "real" else [x, out.x_ori, out.x_new]
    with torch.no_grad():
        for images in seen:  # the reference's order: x, then x_ori, then x_new
            expected(images.detach())
    torch.testing.assert_close(E_id.bn.running_mean, expected.bn.running_mean)
    torch.testing.assert_close(E_id.bn.running_var, expected.bn.running_var)
    assert E_id.bn.momentum == before.bn.momentum  # restored after the generated forwards
    # the forward itself normalises with batch statistics either way: f_new is unchanged
    with torch.no_grad():
        torch.testing.assert_close(out.f_new, before(out.x_new.detach())[1])
