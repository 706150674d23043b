"""Result tables: one rule for percentages (two decimals whatever the size) and one for other
floats (no "0.0000" next to "4.00")."""

from __future__ import annotations

import math

import pytest

from commands._cli import _cell, percent


@pytest.mark.parametrize("fraction, shown", [
    (0.04, "4.00"), (0.0, "0.00"), (1.0, "100.00"), (0.123456, "12.35"), (0.00004, "0.00"),
])
def test_percent_has_two_decimals_at_every_size(fraction, shown):
    assert percent(fraction) == shown


def test_percent_of_nan():
    assert percent(math.nan) == "nan"


def test_floats_of_one_column_share_their_decimals():
    cells = [_cell(v) for v in (0.0, 4.0, 0.039, 12.5)]
    assert cells == ["0.0000", "4.0000", "0.0390", "12.5000"]


def test_tiny_values_keep_their_digits():
    for value in (3.5e-4, 1e-6, -2.25e-5):
        assert float(_cell(value)) == pytest.approx(value, rel=1e-2)
    assert _cell(7) == "7" and _cell("x") == "x" and _cell(math.nan) == "nan"
