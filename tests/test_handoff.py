"""The hand-off record every stage writes and reads (reidkit.runs.Handoff)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reidkit.errors import CheckpointError
from reidkit.models.identity import IdentityEncoder
from reidkit.models.loading import load_identity_encoder
from reidkit.runs import Handoff, load_stage, read_handoff, save_stage


def test_record_survives_the_checkpoint_with_its_types(tmp_path):
    record = Handoff(dataset="market", data_root="/d", size=(64, 32), arch="resnet18",
                     embed_dim=512, baseline="jvtc+", temporal=True, preset="reference",
                     gan_weights=(5.0, 5.0, 1.0))
    save_stage(tmp_path / "warmup.pt", stage="warmup", models={}, config={}, epoch=1,
               handoff=record)
    back = read_handoff(load_stage(tmp_path / "warmup.pt"))
    assert back == record
    assert isinstance(back.size, tuple) and isinstance(back.gan_weights, tuple)


def test_given_fills_only_what_is_given():
    base = Handoff(dataset="market", data_root="/d", baseline="ice")
    later = base.given(dataset=None, data_root=Path("/e"), mesh_root=Path("/m"), baseline=None)
    assert later == Handoff(dataset="market", data_root="/e", mesh_root="/m", baseline="ice")
    assert base.data_root == "/d"  # frozen: the record a stage read is not changed


def test_require_names_every_missing_key(tmp_path):
    with pytest.raises(CheckpointError) as err:
        Handoff(dataset="market").require(("dataset", "data_root", "mesh_root"),
                                          tmp_path / "g.pt", fix="re-run")
    assert "data_root" in str(err.value) and "mesh_root" in str(err.value)
    assert "dataset," not in str(err.value)


def test_input_size_prefers_the_option_then_the_record_then_the_default():
    assert Handoff(size=(64, 32)).input_size((128, 64)) == (128, 64)
    assert Handoff(size=(64, 32)).input_size() == (64, 32)
    assert Handoff().input_size() == (256, 128)


def test_files_from_before_the_record_read_from_their_config(tmp_path):
    path = tmp_path / "gen-warmup.pt"
    save_stage(path, stage="gen-warmup", models={}, epoch=1,
               config={"dataset": "duke", "data_root": "/d", "mesh_root": "/m", "size": [64, 32],
                       "baseline": "jvtc", "lambda_img": 2.0, "lambda_feat": 3.0,
                       "lambda_adv": 0.5, "gan_type": "hinge", "lr": 0.1},
               extra={"eval_temporal": True})
    record = read_handoff(load_stage(path))
    assert record == Handoff(dataset="duke", data_root="/d", mesh_root="/m", size=(64, 32),
                             baseline="jvtc", temporal=True, gan_type="hinge",
                             gan_weights=(2.0, 3.0, 0.5))


def test_loaded_encoder_carries_the_record_and_a_plain_file_an_empty_one(tmp_path):
    model = IdentityEncoder("resnet18")
    record = Handoff(dataset="market", data_root="/d", size=(64, 32))
    save_stage(tmp_path / "warmup.pt", stage="warmup", models={"E_id": model.state_dict()},
               config={}, epoch=1, handoff=record)
    torch.save(model.state_dict(), tmp_path / "plain.pth")
    assert load_identity_encoder(tmp_path / "warmup.pt")[1]["handoff"] == record
    plain = load_identity_encoder(tmp_path / "plain.pth")[1]
    assert plain["handoff"] == Handoff() and plain["stage"] is None
