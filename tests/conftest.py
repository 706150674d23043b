"""Shared test settings: everything runs on CPU with few threads, seeded."""

from __future__ import annotations

import pytest
import torch

from reidkit import log

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _quiet_and_seeded():
    """Seed torch for every test and keep engine progress output out of the test log."""
    torch.manual_seed(0)
    log.set_quiet(True)
    yield
    log.set_quiet(False)
