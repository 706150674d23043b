"""The FID network: local weights only (never a download), clear errors, seeded untrained copy."""

from __future__ import annotations

import pytest
import torch
from pytorch_fid import inception as pfi

from reidkit.errors import WeightsError
from reidkit.scoring import inception
from reidkit.scoring.inception import WEIGHTS_NAME, build_inception, describe_network, find_weights


@pytest.fixture(autouse=True)
def _empty_torch_home(tmp_path, monkeypatch):
    """No weights anywhere, and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(pfi, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)


def test_missing_weights_name_the_flag():
    with pytest.raises(WeightsError) as info:
        find_weights(None, allow_untrained=False)
    assert "--inception-weights" in str(info.value) and WEIGHTS_NAME in str(info.value)
    assert find_weights(None, allow_untrained=True) is None


def test_a_given_path_must_exist_even_when_untrained_is_allowed(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        find_weights(tmp_path / "nope.pth", allow_untrained=True)


def test_weights_in_the_torch_hub_cache_are_found(tmp_path):
    hub = tmp_path / "torch-home" / "hub" / "checkpoints" / WEIGHTS_NAME
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"x")
    assert find_weights(None, allow_untrained=False) == hub


def test_local_weights_give_pytorch_fids_own_network(tmp_path, monkeypatch):
    torch.manual_seed(3)
    backbone = inception._fid_backbone()
    with torch.no_grad():
        for param in backbone.parameters():
            param.normal_(0, 0.05)
    state = backbone.state_dict()
    path = tmp_path / WEIGHTS_NAME
    torch.save(state, path)

    info = describe_network(path)
    assert info.trained and len(info.sha256) == 64 and info.tag == info.sha256
    ours = build_inception(info)
    # pytorch-fid's own construction, fed the same state dict where it would have downloaded it.
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: state)
    theirs = pfi.InceptionV3([3]).eval()
    x = torch.rand(1, 3, 40, 20)
    with torch.no_grad():
        features = ours(x)[0]
        torch.testing.assert_close(features, theirs(x)[0], rtol=0, atol=0)
    assert features.shape == (1, 2048, 1, 1) and features.abs().sum() > 0


def test_files_that_are_not_the_weights_are_refused(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not pytorch-fid's Inception weights"):
        build_inception(describe_network(junk))
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(WeightsError, match="not pytorch-fid's Inception weights"):
        build_inception(describe_network(wrong))


def test_untrained_network_is_seeded_and_marked():
    info = describe_network(None, seed=1)
    assert not info.trained and info.tag == "untrained-kaiming-seed1"
    first = dict(build_inception(info).named_parameters())
    again = dict(build_inception(describe_network(None, seed=1)).named_parameters())
    other = dict(build_inception(describe_network(None, seed=2)).named_parameters())
    name = "blocks.3.2.branch3x3_1.conv.weight"
    assert torch.equal(first[name], again[name])
    assert not torch.equal(first[name], other[name])
    state = torch.get_rng_state()
    build_inception(info)
    assert torch.equal(state, torch.get_rng_state())


def test_unknown_feature_size_is_refused():
    with pytest.raises(WeightsError, match="100-d"):
        describe_network(None, dims=100)
