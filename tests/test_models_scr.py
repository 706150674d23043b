"""SCR as an E_id (`--arch scr`): the 13 vectors, their partitions (2 and 3 stripes; channel groups
1024/1024 and 683/683/682) and the 3328-d feature against a direct computation written here; the
p1 part code; ImageNet weights filling the trunk and every branch; SCR state dicts recognised,
rebuilt and loaded by every stage's loader."""

from __future__ import annotations

import pytest
import torch
import torchvision

from reidkit.errors import WeightsError
from reidkit.models.identity import IdentityEncoder, load_imagenet
from reidkit.models.loading import (
    encoder_for_state,
    identity_encoder_from_state,
    load_identity_encoder,
)
from reidkit.models.scr import SCREncoder, channel_groups, scr_arch_of


@pytest.fixture(scope="module")
def scr50() -> SCREncoder:
    """The paper's SCR (ResNet-50) in eval mode, with non-trivial BN statistics in its heads."""
    torch.manual_seed(0)
    model = SCREncoder("scr").eval()
    with torch.no_grad():
        for bn in model.feat_bn:
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_()
    return model


def test_channel_groups():
    assert channel_groups(2048, 2) == [1024, 1024]
    assert channel_groups(2048, 3) == [683, 683, 682]
    assert channel_groups(512, 3) == [171, 171, 170]


def test_the_13_vectors_and_3328d_feature_match_a_direct_computation(scr50):
    """A 192×64 input gives 12×4 maps (overall stride 16: conv5_1 at stride 1), so 2 stripes are
    rows 0–5 / 6–11 and 3 stripes rows 0–3 / 4–7 / 8–11; every pooling is a max."""
    x = torch.randn(2, 3, 192, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        f_id, f = scr50(x)
        maps = scr50.branch_maps(x)
    assert [tuple(m.shape) for m in maps] == [(2, 2048, 12, 4)] * 3
    p1, p2, p3 = maps

    def gmp(t: torch.Tensor) -> torch.Tensor:
        return t.amax(dim=(2, 3))

    vectors = [gmp(p1), gmp(p2), gmp(p3),
               gmp(p2[:, :, :6]), gmp(p2[:, :, 6:]),
               gmp(p2)[:, :1024], gmp(p2)[:, 1024:],
               gmp(p3[:, :, :4]), gmp(p3[:, :, 4:8]), gmp(p3[:, :, 8:]),
               gmp(p3)[:, :683], gmp(p3)[:, 683:1366], gmp(p3)[:, 1366:]]
    assert [v.shape[1] for v in vectors] == [2048] * 5 + [1024] * 2 + [2048] * 3 + [683, 683, 682]
    reduced = []
    for v, linear, bn in zip(vectors, scr50.feat, scr50.feat_bn, strict=True):
        z = v @ linear.weight.t()  # the 1×1 conv, no bias
        reduced.append((z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight
                       + bn.bias)
    assert f.shape == (2, 3328) and scr50.embed_dim == 3328
    assert torch.allclose(f, torch.cat(reduced, dim=1), atol=1e-4, rtol=1e-4)
    # f_id: p1's map averaged over 4 bands of 3 rows and the width, channel-major (8192-d)
    expected_id = p1.reshape(2, 2048, 4, 3, 4).mean(dim=(3, 4)).reshape(2, -1)
    assert f_id.shape == (2, 8192) and scr50.part_dim == 8192 and scr50.channels == 2048
    assert torch.allclose(f_id, expected_id, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(scr50.feature_map(x), p1)
        assert torch.allclose(scr50.embed(x), f / f.norm(dim=1, keepdim=True), atol=1e-6)


def test_branches_are_independent_copies(scr50):
    weights = [b.layer4[0].conv1.weight for b in scr50.branches]
    assert len({w.data_ptr() for w in weights}) == 3
    assert len(scr50.layer3) == 1 and all(len(b.layer3) == 5 for b in scr50.branches)
    assert all(b.layer4[0].conv2.stride == (1, 1) for b in scr50.branches)  # conv5_1
    assert scr50.arch == "scr" and scr50.imagenet_arch == "resnet50"


def test_imagenet_weights_fill_the_trunk_and_every_branch(tmp_path, monkeypatch):
    """A torchvision checkpoint: conv1…layer3[0] into the trunk, layer3[1:] + layer4 into each of
    the three branches; `auto` looks for the ResNet's file, not an "scr" one."""
    torch.manual_seed(2)
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-test.pth"
    torch.save(resnet.state_dict(), path)
    model = SCREncoder("scr-resnet18")
    assert load_imagenet(model, path) == str(path)
    assert torch.equal(model.conv1.weight, resnet.conv1.weight)
    assert torch.equal(model.layer3[0].conv2.weight, resnet.layer3[0].conv2.weight)
    for branch in model.branches:
        for ours, theirs in ((branch.layer3[0], resnet.layer3[1]), (branch.layer4, resnet.layer4)):
            theirs_state = theirs.state_dict()
            for key, value in ours.state_dict().items():
                assert torch.equal(value, theirs_state[key]), key
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match="no ImageNet resnet18 weights"):
        load_imagenet(SCREncoder("scr-resnet18"), "auto")


def test_state_dicts_are_recognised_rebuilt_and_loaded(tmp_path):
    torch.manual_seed(3)
    original = SCREncoder("scr-resnet18").eval()
    state = original.state_dict()
    assert scr_arch_of(state) == "scr-resnet18"
    assert scr_arch_of(SCREncoder("scr").state_dict()) == "scr"
    assert scr_arch_of(IdentityEncoder("resnet18").state_dict()) is None
    assert isinstance(encoder_for_state(IdentityEncoder("resnet18").state_dict()), IdentityEncoder)
    rebuilt = identity_encoder_from_state(state)  # train-joint's strict rebuild
    assert isinstance(rebuilt, SCREncoder) and rebuilt.arch == "scr-resnet18"
    path = tmp_path / "scr_state.pth"
    torch.save({"state_dict": state}, path)  # a plain state dict, as a user may hold one
    model, info = load_identity_encoder(path)  # eval's, cluster's and gen-warmup's loader
    assert (info["arch"], info["embed_dim"], info["ignored"]) == ("scr-resnet18", 3328, [])
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.equal(model(x)[1], original(x)[1])
        assert torch.equal(rebuilt.eval()(x)[0], original(x)[0])
