"""The procedural body model (SMPL-compatible file) and SMPL file loading."""

from __future__ import annotations

import pickle
import shutil
import sys
import types

import numpy as np
import pytest
import smplx
import torch

from reidkit.body import procedural
from reidkit.body.model import load_body_model, pose_body, read_model_arrays
from reidkit.body.rotation import axis_angle_to_rotmat
from reidkit.errors import WeightsError
from reidkit.render.rasterize import closed_mesh
from reidkit.resources import asset_path

ASSET = asset_path("body", "procedural_smpl.pkl")


@pytest.fixture(scope="module")
def body():
    return load_body_model("procedural")


def test_asset_is_small_and_has_smpl_keys_and_shapes():
    assert ASSET.stat().st_size < 3 * 1024 * 1024
    arrays = read_model_arrays(ASSET)
    v = arrays["v_template"].shape[0]
    assert v == 6890
    assert arrays["shapedirs"].shape == (v, 3, 10)
    assert arrays["posedirs"].shape == (v, 3, 207)
    assert arrays["J_regressor"].shape == (24, v)
    assert arrays["weights"].shape == (v, 24)
    assert arrays["kintree_table"].shape == (2, 24)
    assert arrays["f"].shape[1] == 3 and 10_000 < arrays["f"].shape[0] < 14_000
    # SMPL's kinematic tree.
    assert arrays["kintree_table"][0, 1:].tolist() == list(procedural.PARENTS[1:])
    w = arrays["weights"]
    assert (w >= 0).all() and np.allclose(w.sum(1), 1, atol=1e-5)
    assert closed_mesh(torch.as_tensor(arrays["f"]))


def test_plain_smplx_loads_the_shipped_file():
    model = smplx.SMPL(str(ASSET))  # exactly how a user of smplx would open it
    out = model(betas=torch.zeros(1, 10), body_pose=torch.zeros(1, 69))
    assert out.vertices.shape == (1, 6890, 3)
    assert out.joints.shape[1] == 45  # 24 joints + smplx's extra keypoints from vertex ids


def test_rebuild_matches_the_shipped_file():
    built = procedural.build_model()
    shipped = read_model_arrays(ASSET)
    for key, value in built.items():
        np.testing.assert_allclose(shipped[key], value, atol=1e-6, err_msg=key)


def test_rest_joints_proportions_and_orientation(body):
    out = pose_body(body, torch.zeros(1, 72))
    joints = out.joints[0].numpy()
    np.testing.assert_allclose(joints, procedural.rest_joints(), atol=1e-3)
    v = out.vertices[0].numpy()
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.6 < height < 1.85
    j = procedural.JOINT_NAMES
    assert joints[j.index("head"), 1] > joints[j.index("neck"), 1] > joints[0, 1]  # y up
    assert joints[j.index("left_hip"), 0] > 0 > joints[j.index("right_hip"), 0]  # left on +x
    assert joints[j.index("left_foot"), 2] > joints[j.index("left_ankle"), 2]  # toes to +z
    # The keypoint vertices smplx reads sit where their names say.
    nose = v[332]
    assert nose[2] > 0.12 and abs(nose[0]) < 0.01 and 0.38 < nose[1] < 0.47
    assert v[3216, 2] > 0.12 and v[3387, 2] < -0.05  # left big toe in front, heel behind
    assert v[2746, 0] > 0.7 and v[6191, 0] < -0.7  # thumbs at the hands


def test_bending_the_elbow_moves_only_forearm_and_hand(body):
    rest = pose_body(body, torch.zeros(1, 24, 3)).vertices[0]
    pose = torch.zeros(1, 24, 3)
    pose[0, 18] = torch.tensor([0.0, -torch.pi / 2, 0.0])  # left elbow, forearm forward
    bent = pose_body(body, pose).vertices[0]
    moved = (bent - rest).norm(dim=-1)
    elbow_x = procedural.rest_joints()[18, 0]
    far_side = rest[:, 0] < elbow_x - 0.08
    assert moved[far_side].max() < 1e-3
    hand = rest[:, 0] > 0.8
    assert moved[hand].min() > 0.3
    # The fingertips now point forward (+z) from the elbow.
    assert bent[hand, 2].mean() > 0.3 and abs(bent[hand, 0].mean() - elbow_x) < 0.06


def test_pose_layouts_agree(body):
    aa = torch.randn(2, 24, 3) * 0.3
    a = pose_body(body, aa.reshape(2, 72)).vertices
    b = pose_body(body, axis_angle_to_rotmat(aa)).vertices
    c = pose_body(body, aa[:, 1:], global_orient=aa[:, 0]).vertices
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=0)


def test_shape_basis_height_and_girth(body):
    def measure(betas):
        v = pose_body(body, torch.zeros(1, 72), betas=torch.tensor([betas])).vertices[0]
        return (v[:, 1].max() - v[:, 1].min()).item(), (v[:, 2].max() - v[:, 2].min()).item()

    h0, d0 = measure([0.0] * 10)
    h_tall, _ = measure([2.0] + [0.0] * 9)
    h_wide, d_wide = measure([0.0, 2.0] + [0.0] * 8)
    h_legs, _ = measure([0.0, 0.0, 2.0] + [0.0] * 7)
    assert h_tall == pytest.approx(h0 * (1 + 2 * 0.045), rel=0.01)
    assert abs(h_wide - h0) < 0.02 and d_wide > d0 * 1.1  # girth: wider, barely taller
    assert 0.05 < h_legs - h0 < 0.15
    # Fewer betas than the model has are padded with zeros.
    v_short = pose_body(body, torch.zeros(1, 72), betas=torch.tensor([[2.0]])).vertices
    v_full = pose_body(body, torch.zeros(1, 72), betas=torch.tensor([[2.0] + [0.0] * 9])).vertices
    torch.testing.assert_close(v_short, v_full)


def test_npz_and_folder_sources(tmp_path, body):
    arrays = read_model_arrays(ASSET)
    np.savez(tmp_path / "clean.npz", **arrays)
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(ASSET, folder / "SMPL_NEUTRAL.pkl")
    ref = pose_body(body, torch.zeros(1, 72)).vertices
    for source in (tmp_path / "clean.npz", folder):
        torch.testing.assert_close(pose_body(load_body_model(source), torch.zeros(1, 72)).vertices,
                                   ref)


def test_missing_model_names_the_flag(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_body_model(tmp_path / "nope.pkl")
    assert "--smpl-model" in str(err.value) and "registration" in str(err.value)
    with pytest.raises(WeightsError, match="SMPL_NEUTRAL.pkl"):
        load_body_model(tmp_path)


def test_chumpy_pickle_is_detected_with_conversion_advice(tmp_path, monkeypatch):
    fake = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    fake.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", fake)
    arrays = dict(read_model_arrays(ASSET))
    arrays["shapedirs"] = Ch(arrays["shapedirs"])
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    with pytest.raises(WeightsError) as err:
        load_body_model(path)
    text = str(err.value)
    assert "chumpy" in text and "--smpl-model" in text and "numpy" in text


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_with_foreign_objects_is_refused_unrun(tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil()}))
    with pytest.raises(WeightsError, match="cannot read"):
        load_body_model(path)
    assert "never run" not in capsys.readouterr().out
