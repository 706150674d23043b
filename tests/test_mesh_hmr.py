"""HMR: a checkpoint with SPIN's exact key names loads strictly, predicts valid shapes, and the
mean-parameter / error-feedback plumbing matches a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from reidkit.body.hmr import crop_to_input, load_hmr, predict
from reidkit.errors import WeightsError


def spin_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """SPIN's `model` entry built independently: torchvision ResNet-50 keys (SPIN redefines the
    same Bottleneck) without `fc`, the regressor heads and the three mean buffers."""
    gen = torch.Generator().manual_seed(seed)
    state = {
        k: torch.randn(v.shape, generator=gen) * 0.02 if v.is_floating_point() else v
        for k, v in torchvision.models.resnet50(weights=None).state_dict().items()
        if not k.startswith("fc.")
    }
    for key, value in list(state.items()):
        if key.endswith("running_var"):
            state[key] = torch.ones_like(value)
        if key.endswith(".weight") and value.dim() == 1:  # BN scales
            state[key] = torch.ones_like(value)
    heads = {"fc1": (1024, 2048 + 144 + 13), "fc2": (1024, 1024), "decpose": (144, 1024),
             "decshape": (10, 1024), "deccam": (3, 1024)}
    for name, (out_f, in_f) in heads.items():
        state[f"{name}.weight"] = torch.randn(out_f, in_f, generator=gen) * 0.01
        state[f"{name}.bias"] = torch.zeros(out_f)
    state["init_pose"] = torch.tensor([[1.0, 0, 0, 1, 0, 0] * 24])
    state["init_shape"] = torch.arange(10, dtype=torch.float32)[None] / 10
    state["init_cam"] = torch.tensor([[0.9, 0.1, -0.2]])
    return state


@pytest.fixture(scope="module")
def spin_state() -> dict[str, torch.Tensor]:
    return spin_state_dict()


@pytest.fixture(scope="module")
def spin_checkpoint(tmp_path_factory, spin_state):
    path = tmp_path_factory.mktemp("spin") / "model_checkpoint.pt"
    torch.save({"model": spin_state, "optimizer": {}, "epoch": 3}, path)
    return path


def zero_heads(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy with the three output heads' weights zeroed (the output no longer sees the image)."""
    out = dict(state)
    for head in ("decpose", "decshape", "deccam"):
        out[f"{head}.weight"] = torch.zeros_like(state[f"{head}.weight"])
    return out


def crops(n: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (128, 64, 3), dtype=np.uint8)) for _ in range(n)]


def test_spin_checkpoint_loads_strictly_and_predicts_valid_shapes(spin_checkpoint, spin_state):
    model = load_hmr(spin_checkpoint)
    loaded = model.state_dict()
    assert set(loaded) == set(spin_state)
    assert torch.equal(loaded["layer4.2.conv3.weight"], spin_state["layer4.2.conv3.weight"])
    out = predict(model, crops(2))
    assert out["pose"].shape == (2, 24, 3, 3)
    assert out["betas"].shape == (2, 10)
    assert out["camera"].shape == (2, 3)
    rot = torch.from_numpy(out["pose"]).double()
    eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(2, 24, dtype=torch.float64), atol=1e-5)


@pytest.fixture(scope="module")
def feedback_checkpoint(tmp_path_factory, spin_state):
    """Heads that ignore the image: only their biases act, once per iteration."""
    state = zero_heads(spin_state)
    state["decshape.bias"] = torch.full((10,), 0.5)
    state["deccam.bias"] = torch.tensor([0.0, 0.01, 0.0])
    path = tmp_path_factory.mktemp("feedback") / "ckpt.pt"
    torch.save({"model": state}, path)
    return path


def test_zero_heads_return_the_mean_and_biases_accumulate_over_three_iterations(
    feedback_checkpoint,
):
    out = predict(load_hmr(feedback_checkpoint), crops(2))
    # three error-feedback iterations each add the (input-independent) bias
    want_shape = np.arange(10) / 10 + 3 * 0.5
    np.testing.assert_allclose(out["betas"], np.tile(want_shape, (2, 1)), atol=1e-5)
    np.testing.assert_allclose(out["camera"], [[0.9, 0.13, -0.2]] * 2, atol=1e-5)
    np.testing.assert_allclose(out["pose"], np.tile(np.eye(3), (2, 24, 1, 1)), atol=1e-6)


def test_mean_params_file_replaces_the_initial_estimate(tmp_path, feedback_checkpoint):
    # 6D of a 90° turn about z in SPIN's 3x2 layout: columns (0,1,0) and (-1,0,0)
    pose = np.tile([0.0, -1.0, 1.0, 0.0, 0.0, 0.0], 24)
    means = tmp_path / "smpl_mean_params.npz"
    np.savez(means, pose=pose, shape=np.full(10, 0.25), cam=np.array([0.8, 0.0, 0.05]))
    out = predict(load_hmr(feedback_checkpoint, means), crops(1))
    np.testing.assert_allclose(out["betas"][0], np.full(10, 0.25 + 1.5), atol=1e-5)
    np.testing.assert_allclose(out["camera"][0], [0.8, 0.03, 0.05], atol=1e-5)
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(out["pose"][0, 5], rz, atol=1e-6)


def test_checkpoint_without_means_needs_the_npz(tmp_path, spin_state):
    state = {k: v for k, v in spin_state.items() if not k.startswith("init_")}
    path = tmp_path / "ckpt.pt"
    torch.save({"model": state}, path)
    with pytest.raises(WeightsError, match="--smpl-mean-params"):
        load_hmr(path)
    means = tmp_path / "m.npz"
    np.savez(means, pose=np.tile([1.0, 0, 0, 1, 0, 0], 24), shape=np.zeros(10), cam=np.ones(3))
    assert load_hmr(path, means).init_cam.tolist() == [[1.0, 1.0, 1.0]]


@pytest.mark.parametrize("content", ["missing", "garbage", "wrong-keys"])
def test_bad_checkpoints_name_the_flag(tmp_path, content):
    path = tmp_path / "ckpt.pt"
    if content == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif content == "wrong-keys":
        torch.save({"model": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, path)
    with pytest.raises(WeightsError, match="--hmr-checkpoint") as info:
        load_hmr(path)
    assert "model_checkpoint.pt" in str(info.value)


def test_bad_mean_params_name_the_flag(tmp_path, spin_checkpoint):
    path = spin_checkpoint
    bad = tmp_path / "m.npz"
    np.savez(bad, pose=np.zeros(10), shape=np.zeros(10), cam=np.zeros(3))
    with pytest.raises(WeightsError, match="--smpl-mean-params"):
        load_hmr(path, bad)
    with pytest.raises(WeightsError, match="--smpl-mean-params"):
        load_hmr(path, tmp_path / "absent.npz")


def test_crop_is_padded_to_a_centred_square():
    white = Image.new("RGB", (64, 128), (255, 255, 255))
    x = crop_to_input(white)
    assert x.shape == (3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    black, full = -mean / std, (1 - mean) / std
    assert torch.allclose(x[:, 112, 5], black, atol=1e-5)  # padding left
    assert torch.allclose(x[:, 112, 218], black, atol=1e-5)  # padding right
    assert torch.allclose(x[:, 112, 112], full, atol=1e-5)  # the crop, centred
    assert torch.allclose(x[:, 5, 112], full, atol=1e-5)  # full height kept


def test_mesh_with_hmr_skips_and_lists_unreadable_images(tmp_path, synth_root, spin_checkpoint):
    """HMR path end to end on a 4-image dataset where one train file is truncated and one is not
    an image at all: both are listed, the others rendered, the run succeeds."""
    from reidkit.body.params import load_body_params
    from reidkit.stages.mesh import MeshConfig, run_mesh

    root = tmp_path / "data"
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        (root / folder).mkdir(parents=True)
        first = sorted((synth_root / folder).iterdir())[0]
        (root / folder / first.name).write_bytes(first.read_bytes())
    good = sorted((synth_root / "bounding_box_train").iterdir())[0].read_bytes()
    truncated = root / "bounding_box_train" / "0009_c1s1_000001_01.jpg"
    truncated.write_bytes(good[: len(good) // 3])
    garbage = root / "bounding_box_train" / "0009_c2s1_000002_01.jpg"
    garbage.write_bytes(b"not an image")
    result = run_mesh(
        MeshConfig(dataset="market", data_root=root, out=tmp_path / "mesh", smpl_model="procedural",
                   hmr_checkpoint=spin_checkpoint, splits=("train",), size=(64, 32), device="cpu")
    )
    assert sorted(result["unreadable"]) == sorted([str(truncated), str(garbage)])
    assert result["rendered"] == 1
    params = load_body_params(tmp_path / "mesh" / "train" / "body_params.npz")
    assert len(params) == 1 and params.pose.shape == (1, 24, 3, 3)
    assert all((tmp_path / "mesh" / "train" / f / params.names[0].split("/", 1)[1]).is_file()
               for f in ["render", "render_45", "render_315"])
