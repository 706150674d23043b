"""Two gloo processes on CPU train together: same memory bank and labels on both ranks after
every step, one checkpoint, and the run resumes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import ddp_worker, free_port, make_crop_market, make_gen_warmup  # noqa: E402

from reidkit.runs import load_stage  # noqa: E402


def _spawn(out: Path, phases: list[dict]) -> list[list[dict]]:
    """Run the phases (one config each) in two spawned ranks; per phase, both ranks' records."""
    out.mkdir(parents=True, exist_ok=True)
    plan = [(free_port(), config) for config in phases]
    mp.spawn(ddp_worker, args=(2, plan, str(out)), nprocs=2, join=True)
    return [[torch.load(out / f"phase{p}-rank{r}.pt", weights_only=False) for r in range(2)]
            for p in range(len(phases))]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
@pytest.mark.parametrize(
    "no_gan", [pytest.param(True, id="contrast"), pytest.param(False, marks=pytest.mark.slow,
                                                                 id="gan")]
)
def test_two_ranks_stay_in_step_and_resume(tmp_path, no_gan):
    make_crop_market(tmp_path / "data", tmp_path / "mesh", ids=4, per_cam=2)
    run = tmp_path / "run"
    make_gen_warmup(run, tmp_path / "data", tmp_path / "mesh")
    config = dict(run=run, epochs=1, eps=0.6, k1=6, k2=2, min_samples=2, batch_size=2,
                  iters_per_epoch=2, device="cpu", workers=0, no_gan=no_gan)
    first, second = _spawn(tmp_path / "out",
                           [config, {**config, "epochs": 2, "resume": True}])
    assert len(first[0]["steps"]) == 2
    for a, b in zip(first[0]["steps"], first[1]["steps"], strict=True):
        assert torch.equal(a["memory"], b["memory"])
        assert torch.equal(a["labels"], b["labels"])
    assert (first[0]["steps"][0]["labels"] >= 0).any()
    files = sorted(p.name for p in run.iterdir() if p.suffix == ".pt")
    assert files == ["gen-warmup.pt", "train-joint.pt"]
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    assert first[0]["history"][-1]["epoch"] == 1
    assert len(second[0]["steps"]) == 2 and second[0]["steps"][0]["iteration"] == 3
    for a, b in zip(second[0]["steps"], second[1]["steps"], strict=True):
        assert torch.equal(a["memory"], b["memory"])
        assert torch.equal(a["labels"], b["labels"])
    state = load_stage(run / "train-joint.pt", "train-joint")
    assert state["epoch"] == 2 and state["extra"]["world_size"] == 2
    assert torch.equal(state["extra"]["memory"]["features"], second[0]["steps"][-1]["memory"])
    assert os.environ.get("RANK") is None  # the parent process was not turned into a rank
