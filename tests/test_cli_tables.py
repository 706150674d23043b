"""Result tables: one rule for percentages (two decimals whatever the size) and one for other
floats (no "0.0000" next to "4.00")."""

from __future__ import annotations

import math

import pytest

from reidkit.commands._cli import _cell, percent


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


def _printed(capsys, title, columns, rows) -> list[str]:
    from reidkit.commands._cli import print_table

    print_table(title, columns, rows)
    return capsys.readouterr().out.splitlines()


def test_warmup_table_prints_test_scores_as_percentages(capsys):
    from reidkit.commands.warmup import table

    test = {"mAP": 0.04, "rank1": 0.123456, "rank5": 0.5, "rank10": 1.0, "mINP": 0.0,
            "valid_queries": 2, "size": "64x32"}
    metrics = {"epoch": 3, "phase": "jvtc", "lr": 3.5e-4, "l_all": 0.04, "clusters": 7,
               "test": test}
    title, columns, rows = table({"metrics": metrics, "baseline": "jvtc", "checkpoint": "w.pt"})
    cells = dict(rows)
    assert cells["test mAP (%)"] == "4.00" and cells["test rank1 (%)"] == "12.35"
    assert cells["test rank10 (%)"] == "100.00" and cells["test mINP (%)"] == "0.00"
    assert cells["l_all"] == 0.04 and cells["lr"] == 3.5e-4 and cells["clusters"] == 7  # as is
    assert not any("valid_queries" in k for k in cells)
    lines = _printed(capsys, title, columns, rows)
    (line,) = [ln for ln in lines if "test mAP (%)" in ln]
    assert "4.00" in line and "0.0400" not in line
    (line,) = [ln for ln in lines if " l_all " in ln]
    assert "0.0400" in line  # a loss stays a plain float


def test_train_joint_table_prints_test_scores_as_percentages(capsys):
    from reidkit.commands.train_joint import table

    epoch = {"epoch": 1, "clusters": 5, "outliers": 2, "l_all": 0.04, "lr_id": 3.5e-4,
             "images_per_s": 12.5}
    history = [{**epoch, "test_mAP": 0.04, "test_rank1": 0.123456}, {**epoch, "epoch": 2}]
    title, columns, rows = table({"history": history, "preset": "paper", "loss_variant": "all",
                                  "checkpoint": "j.pt"})
    assert columns[-2:] == ["test mAP (%)", "test R1 (%)"]
    assert rows[0][-2:] == ["4.00", "12.35"] and rows[1][-2:] == ["nan", "nan"]
    assert rows[0][3] == 0.04 and rows[0][4] == 3.5e-4  # loss and learning rate as they are
    lines = _printed(capsys, title, columns, rows)
    (line,) = [ln for ln in lines if "12.35" in ln]
    assert "4.00" in line and "0.0400" in line  # the score in %, the loss l_all a fraction
    untested = table({"history": [epoch], "preset": "paper", "loss_variant": "all",
                      "checkpoint": "j.pt"})
    assert not any("%" in c for c in untested[1])
