"""E_str, G, D: shapes, parameter counts of the reference, determinism, blocks vs hand math."""

from __future__ import annotations

import pytest
import torch

from reidkit.models.blocks import LayerNorm, adain
from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.structure import StructureEncoder


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_reference():
    # Reference sizes (the authors' checkpoints): G+E_str 13.38 M, D 1.03 M, E_id 24.56 M; exact
    # counts from the per-tensor shapes of tests/data/gcl-official-state-dict.tsv.
    assert count(StructureEncoder()) + count(Generator(2048)) == 13_380_675
    assert count(Discriminator()) == 1_025_571
    assert count(IdentityEncoder("resnet50")) == 24_558_144


def test_shapes_at_256x128():
    with torch.no_grad():
        s = StructureEncoder()(torch.randn(1, 1, 256, 128))
        assert s.shape == (1, 128, 64, 32)
        x = Generator(512)(s, torch.randn(1, 2048))
        assert x.shape == (1, 3, 256, 128)
        outs = Discriminator()(x)
    assert [tuple(o.shape[-2:]) for o in outs] == [(64, 32), (32, 16), (16, 8)]


def test_generator_takes_either_part_code():
    s = torch.randn(2, 128, 24, 12)
    with torch.no_grad():
        for arch in ("resnet18", "resnet50"):
            part = IdentityEncoder(arch).part_dim
            assert Generator(part // 4)(s, torch.randn(2, part)).shape == (2, 3, 96, 48)
    with pytest.raises(ValueError, match="8192"):
        Generator(2048)(s, torch.randn(2, 2048))


def test_generate_is_deterministic_and_finite():
    torch.manual_seed(1)
    E, G = StructureEncoder().eval(), Generator(512).eval()
    mesh, f_id = torch.rand(2, 1, 96, 48) * 2 - 1, torch.randn(2, 2048)
    with torch.no_grad():
        a, b = G(E(mesh), f_id), G(E(mesh), f_id)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all() and a.abs().max() < 1e3
    # Different identities give different pictures on the same structure.
    with torch.no_grad():
        c = G(E(mesh), torch.randn(2, 2048))
    assert (a - c).abs().mean() > 1e-3


def test_adain_matches_hand_computation():
    x = torch.randn(2, 3, 4, 5)
    scale, bias = torch.randn(2, 3), torch.randn(2, 3)
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    expected = ((x - mean) / torch.sqrt(var + 1e-5) * scale[:, :, None, None]
                + bias[:, :, None, None])
    assert torch.allclose(adain(x, scale, bias), expected, atol=1e-5)


def test_layer_norm_is_the_reference_form():
    ln = LayerNorm(3)
    x = torch.randn(2, 3, 4, 5)
    flat = x.reshape(2, -1)
    mean = flat.mean(1).view(2, 1, 1, 1)
    std = flat.std(1).view(2, 1, 1, 1)  # unbiased, eps added to std
    expected = (x - mean) / (std + 1e-5) * ln.gamma.view(1, 3, 1, 1) + ln.beta.view(1, 3, 1, 1)
    assert torch.allclose(ln(x), expected, atol=1e-6)


def test_generator_uses_adain_rows_in_module_order():
    torch.manual_seed(0)
    G = Generator(8, channels=8, mlp_dim=4)
    f_id = torch.randn(1, 32)
    scales, biases = G.adain_params(f_id)
    chunks = f_id.split(8, dim=1)
    concat = torch.cat([m(c) for m, c in zip(G.mlp_scale, chunks, strict=True)], dim=1)
    assert torch.equal(scales[0, 0], concat[0, :8])  # first 8 values → first AdaIN layer
    assert torch.equal(scales[0, 7], concat[0, 56:64])
    assert torch.equal(biases[0, 2], torch.cat([m(c) for m, c in zip(G.mlp_bias, chunks,
                                                                      strict=True)], 1)[0, 16:24])
