"""Shared test settings: everything runs on CPU with few threads, seeded."""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: with spawned worker processes (DDP tests) and
# two cores, spinning threads starve each other (about 10x slower steps).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

from reidkit import log

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _quiet_and_seeded():
    """Seed torch for every test and keep engine progress output out of the test log."""
    torch.manual_seed(0)
    log.set_quiet(True)
    yield
    log.set_quiet(False)


@pytest.fixture
def one_thread():
    """One intra-op thread: several processes share the test machine's two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- shared data fixtures (issue 3): a tiny synthetic dataset and its mesh renders -------------
SYNTH_TINY = {"ids": 8, "cameras": 2, "images_per_id": 4, "size": (64, 32), "seed": 0}


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A tiny `reidkit synth` dataset in the Market-1501 layout (8 ids: 4 train with 16 images,
    4 test with 8 query + 8 gallery; 2 cameras; 64x32 images) plus its body_params.npz.
    Read it with `load_dataset("market", synth_root)`. Built once per session; do not modify."""
    from reidkit.stages.synth import SynthConfig, run_synth

    log.set_quiet(True)
    out = tmp_path_factory.mktemp("shared") / "synth"
    run_synth(SynthConfig(out=out, **SYNTH_TINY))
    return out


@pytest.fixture(scope="session")
def mesh_root(tmp_path_factory, synth_root):
    """The 8 grey renders (render/, render_45/ … render_315/, 64x32) of every `synth_root`
    image under train/ and test/ (query + gallery), rendered from its ground-truth parameters
    with the procedural body. Built once per session; do not modify."""
    from reidkit.stages.mesh import run_mesh, synth_mesh_config

    log.set_quiet(True)
    out = tmp_path_factory.mktemp("shared") / "mesh"
    run_mesh(synth_mesh_config(synth_root, out, size=SYNTH_TINY["size"], device="cpu"))
    return out


@pytest.fixture(scope="session")
def crop_tree(tmp_path_factory):
    """Coloured crops with renders (4 ids, `fixtures.make_crop_market`) and a train-joint TOML
    that clusters them; tests write their run folders under it with names of their own."""
    from fixtures import make_crop_market

    root = tmp_path_factory.mktemp("crops")
    make_crop_market(root / "data", root / "mesh", ids=4, per_cam=2)
    (root / "joint.toml").write_text("k1 = 6\nk2 = 2\nmin_samples = 2\nworkers = 0\n")
    return root
