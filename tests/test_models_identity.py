"""E_id: output shapes, the channel-major part code against a manual pooling, parameter count."""

from __future__ import annotations

import pytest
import torch

from reidkit.models.identity import IdentityEncoder


@pytest.mark.parametrize("arch, channels, rows", [("resnet18", 512, 2), ("resnet50", 2048, 1)])
def test_part_code_is_channel_major(arch, channels, rows):
    model = IdentityEncoder(arch).eval()
    x = torch.randn(2, 3, 64 * rows, 32 * rows)  # feature map 4·rows × 2·rows: rows per part
    with torch.no_grad():
        f_id, f = model(x)
        fmap = model.feature_map(x)
    assert model.part_dim == 4 * channels and f_id.shape == (2, 4 * channels)
    assert f.shape == (2, 512) and fmap.shape[2:] == (4 * rows, 2 * rows)  # last stride 1: /16
    strips = torch.stack([fmap[:, :, rows * p: rows * (p + 1)].mean((2, 3)) for p in range(4)], 2)
    torch.testing.assert_close(f_id, strips.reshape(2, -1))  # index = channel * 4 + part
    chunk = model.part_dim // 4  # how G splits the code
    for k in range(4):
        block = strips[:, k * channels // 4: (k + 1) * channels // 4].reshape(2, -1)
        torch.testing.assert_close(f_id[:, k * chunk:(k + 1) * chunk], block)
    torch.testing.assert_close(model.embed(x).norm(dim=1), torch.ones(2))


def test_resnet50_parameter_count_matches_reference():
    model = IdentityEncoder("resnet50", embed_dim=512)
    total = sum(p.numel() for p in model.parameters())
    assert round(total / 1e6, 2) == 24.56
    assert IdentityEncoder("resnet50", embed_dim=None).embed_dim == 2048
