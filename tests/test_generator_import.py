"""Importer of the authors' checkpoints: every tensor of the reference layout (the TSV) maps,
values survive the round trip, and unknown / missing keys are refused with their names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from reidkit.commands.app import app
from reidkit.errors import CheckpointError
from reidkit.models.discriminator import Discriminator
from reidkit.models.generator import Generator
from reidkit.models.identity import IdentityEncoder
from reidkit.models.import_gcl import (
    export_gcl,
    gen_ignored_keys,
    import_dis,
    import_gen,
    import_id,
    load_gcl_checkpoints,
)
from reidkit.models.structure import StructureEncoder
from reidkit.runs import load_stage

TSV = Path(__file__).parent / "data" / "gcl-official-state-dict.tsv"


def reference_states(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Random tensors laid out exactly as the reference's gen / dis / id state dicts."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, torch.Tensor]] = {"gen": {}, "dis": {}, "id": {}}
    for line in TSV.read_text().splitlines():
        module, key, shape, dtype = line.split("\t")
        dims = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
        if dtype == "int64":
            out[module][key] = torch.randint(0, 100, dims, generator=gen)
        else:
            out[module][key] = torch.randn(dims, generator=gen)
    return out


def test_tsv_covers_the_three_modules():
    ref = reference_states()
    assert len(ref["gen"]) == 134 and len(ref["dis"]) == 84 and len(ref["id"]) == 325


def test_round_trip_maps_every_tensor_with_equal_values():
    ref = reference_states()
    models = {**import_gen({"gen": ref["gen"]}), **import_dis({"dis": ref["dis"]}),
              **import_id({"id": ref["id"]})}
    # Every tensor of each of our modules is filled (strict load), nothing left over.
    StructureEncoder().load_state_dict(models["E_str"], strict=True)
    Generator(2048).load_state_dict(models["G"], strict=True)
    Discriminator().load_state_dict(models["D"], strict=True)
    IdentityEncoder("resnet50").load_state_dict(models["E_id"], strict=True)
    back = export_gcl(models)
    ignored = set(gen_ignored_keys())
    for module in ("gen", "dis", "id"):
        assert set(back[module]) == set(ref[module])
        for key, value in ref[module].items():
            if key not in ignored:
                assert torch.equal(back[module][key], value), (module, key)
    # Mapped one to one: as many tensors in our modules as mapped reference keys.
    assert len(models["E_str"]) + len(models["G"]) == len(ref["gen"]) - len(ignored)
    assert len(models["D"]) == len(ref["dis"])


def test_reference_names_land_where_expected():
    ref = reference_states()
    models = import_gen({"gen": ref["gen"]})
    assert torch.equal(models["G"]["mlp_scale.2.fc1.weight"],
                       ref["gen"]["mlp_w3.model.0.fc.weight"])
    assert torch.equal(models["G"]["mlp_bias.0.fc3.bias"], ref["gen"]["mlp_b1.model.2.fc.bias"])
    assert torch.equal(models["E_str"]["aspp.dilated.1.1.conv.weight"],
                       ref["gen"]["enc_content.model.5.conv12.1.conv.weight"])
    assert torch.equal(models["G"]["up2.norm.gamma"], ref["gen"]["dec.model.5.norm.gamma"])
    dis = import_dis({"dis": ref["dis"]})["D"]
    assert torch.equal(dis["scales.1.res.2.conv2.conv.weight"],
                       ref["dis"]["cnns.1.7.model.1.conv.weight"])


def test_unknown_and_missing_keys_are_listed():
    ref = reference_states()
    gen = dict(ref["gen"])
    gen.pop("dec.model.8.conv.bias")
    gen["dec.model.9.conv.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        import_gen({"gen": gen})
    assert "dec.model.8.conv.bias" in str(err.value) and "dec.model.9.conv.weight" in str(err.value)
    ids = dict(ref["id"])
    ids["classifier.weight"] = torch.zeros(3, 512)
    with pytest.raises(CheckpointError, match="classifier.weight"):
        import_id({"id": ids})
    with pytest.raises(CheckpointError, match="missing"):
        import_dis({"dis": {k: v for k, v in ref["dis"].items() if "cnns.2" not in k}})


def test_model_best_with_dataparallel_prefix(tmp_path):
    ref = reference_states()
    best = {"state_dict": {f"module.{k}": v for k, v in ref["id"].items()}, "epoch": 3,
            "best_mAP": 0.5}
    torch.save(best, tmp_path / "model_best.pth")
    models = load_gcl_checkpoints(id_path=tmp_path / "model_best.pth")
    assert torch.equal(models["E_id"]["layer4.2.conv3.weight"], ref["id"]["layer4.2.conv3.weight"])


def test_import_cli_writes_a_stage_checkpoint(tmp_path):
    ref = reference_states()
    torch.save({"gen": ref["gen"]}, tmp_path / "gen_00010000.pt")
    torch.save({"dis": ref["dis"]}, tmp_path / "dis_00010000.pt")
    torch.save({"id": ref["id"]}, tmp_path / "id_00010000.pt")
    out = tmp_path / "runs" / "x" / "train-joint.pt"
    result = CliRunner().invoke(app, [
        "import", "--format", "gcl", "--gen", str(tmp_path / "gen_00010000.pt"),
        "--dis", str(tmp_path / "dis_00010000.pt"), "--id", str(tmp_path / "id_00010000.pt"),
        "--out", str(out), "--dataset", "market", "--data-root", str(tmp_path / "market"),
        "--mesh-root", str(tmp_path / "mesh"), "--json"])
    assert result.exit_code == 0, result.output
    state = load_stage(out, "train-joint")
    assert set(state["models"]) == {"E_id", "E_str", "G", "D"}
    assert state["config"]["arch"] == "resnet50" and state["config"]["dataset"] == "market"
    assert torch.equal(state["models"]["G"]["out.conv.bias"], ref["gen"]["dec.model.8.conv.bias"])


def test_import_cli_bad_input_exits_2(tmp_path):
    ref = reference_states()
    torch.save({"gen": {k: v for k, v in list(ref["gen"].items())[:-1]}}, tmp_path / "gen.pt")
    torch.save({"id": ref["id"]}, tmp_path / "id.pt")
    out = tmp_path / "x.pt"
    result = CliRunner().invoke(app, ["import", "--format", "gcl",
                                      "--gen", str(tmp_path / "gen.pt"),
                                      "--id", str(tmp_path / "id.pt"), "--out", str(out)])
    assert result.exit_code == 2
    assert "missing" in result.output and not out.exists()
    result = CliRunner().invoke(app, ["import", "--format", "other", "--gen", "a", "--id", "b",
                                      "--out", str(out)])
    assert result.exit_code == 2
