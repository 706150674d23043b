"""The score-gen result as table rows, CSV or Markdown text (the CLI prints them)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

COLUMNS = ("Row", "Images", "FID", "SSIM (mean ± std)", "SSIM pairs")
CSV_FIELDS = (
    "row",
    "images",
    "identities",
    "fid",
    "ssim_mean",
    "ssim_std",
    "ssim_pairs",
    "ssim_channels",
    "inception",
)


def _number(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value) >= 1 or value == 0:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}g}"


def _fixed(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def title(result: dict[str, Any]) -> str:
    """Table title; carries the untrained marker when the network was untrained."""
    text = f"Generation quality: FID ↓ (Inception pool3), SSIM {result['ssim']['channels']} ↑"
    if result["untrained"]:
        text += f" — {result['marker']}"
    return text


def _inception_label(result: dict[str, Any]) -> str:
    return result["marker"] if result["untrained"] else "pt_inception-2015-12-05"


def table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Columns and formatted rows; an extra Inception column marks untrained numbers."""
    columns = list(COLUMNS) + (["Inception"] if result["untrained"] else [])
    rows = []
    for row in result["rows"]:
        ssim = f"{_fixed(row['ssim_mean'])} ± {_fixed(row['ssim_std'])}"
        cells = [
            row["name"],
            str(row["images"]),
            _number(row["fid"], 2),
            ssim,
            str(row["ssim_pairs"]),
        ]
        rows.append(cells + ([result["marker"]] if result["untrained"] else []))
    return columns, rows


def notes(result: dict[str, Any]) -> list[str]:
    """The rules behind the numbers, printed under the table."""
    lines = [result["protocol"], result["ssim"]["rule"]]
    if result.get("real_row_rule"):
        lines.append(result["real_row_rule"])
    return lines


def to_csv(result: dict[str, Any]) -> str:
    """One CSV line per row, raw numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in result["rows"]:
        writer.writerow(
            [
                row["name"],
                row["images"],
                row["identities"],
                repr(row["fid"]),
                repr(row["ssim_mean"]),
                repr(row["ssim_std"]),
                row["ssim_pairs"],
                result["ssim"]["channels"],
                _inception_label(result),
            ]
        )
    return buffer.getvalue()


def to_markdown(result: dict[str, Any]) -> str:
    """A Markdown table with the title above and the rules below."""
    columns, rows = table(result)
    lines = [
        f"**{title(result)}**",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    lines += [""] + [f"- {line}" for line in notes(result)]
    return "\n".join(lines) + "\n"
