"""Ranked lists as pictures: the query, then its top gallery images with a green (same identity)
or red border, junk (same identity on the query's camera: not counted by the protocol) greyed
with a grey border and no rank, and the rank and distance under each image."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from reidkit.data.records import ImageRecord
from reidkit.evaluation.ranked import RankedList, pick_queries, query_average_precision, ranked_list
from reidkit.io import save_image

MATCH = (0, 160, 60)
WRONG = (210, 30, 30)
JUNK = (160, 160, 160)
QUERY = (40, 90, 200)
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
BORDER = 4
GAP, QUERY_GAP, MARGIN = 6, 18, 8
HEADER, CAPTION = 18, 30


@dataclass(frozen=True)
class Tile:
    """Where one image sits in a figure: `box` = (left, top, right, bottom), right/bottom
    exclusive, border included; `role` is query, match, wrong or junk."""

    role: str
    gallery_index: int | None
    rank: int | None
    box: tuple[int, int, int, int]


def _picture(record: ImageRecord, size: tuple[int, int], greyed: bool) -> Image.Image:
    with Image.open(record.path) as source:
        image = source.convert("RGB").resize((size[1], size[0]), Image.Resampling.BICUBIC)
    if greyed:  # faded grey: still recognisable, visibly out of the ranking
        grey = ImageOps.grayscale(image).convert("RGB")
        image = Image.blend(grey, Image.new("RGB", grey.size, BACKGROUND), 0.4)
    return image


def draw_ranked_list(ranked: RankedList, query: Sequence[ImageRecord],
                     gallery: Sequence[ImageRecord], *,
                     tile: tuple[int, int] = (128, 64)) -> tuple[Image.Image, list[Tile]]:
    """One figure for one ranked list, and where each image was drawn (for tests and tools)."""
    h, w = tile
    outer_h, outer_w = h + 2 * BORDER, w + 2 * BORDER
    font = ImageFont.load_default()
    q = query[ranked.query_index]
    header = (f"query: {q.name} | pid {q.pid} | camera {q.camid + 1} | "
              f"AP {100 * ranked.ap:.2f} % | {ranked.num_matches} matches")
    if ranked.junk_hidden:
        header += f" | {ranked.junk_hidden} more junk not shown"
    n = len(ranked.items)
    width = 2 * MARGIN + outer_w * (n + 1) + QUERY_GAP + GAP * max(n - 1, 0)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(width, 2 * MARGIN + int(probe.textlength(header, font=font)) + 1)
    canvas = Image.new("RGB", (width, MARGIN + HEADER + outer_h + CAPTION), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, MARGIN // 2), header, fill=TEXT, font=font)
    top = MARGIN + HEADER
    tiles = []
    entries = [("query", None, None, q, "query", "")]
    for item in ranked.items:
        role = "junk" if item.junk else "match" if item.match else "wrong"
        label = "junk" if item.junk else f"#{item.rank}"
        entries.append((role, item.gallery_index, item.rank, gallery[item.gallery_index], label,
                        f"{item.distance:.3f}"))
    left = MARGIN
    colours = {"query": QUERY, "match": MATCH, "wrong": WRONG, "junk": JUNK}
    for role, g, rank, record, label, distance in entries:
        box = (left, top, left + outer_w, top + outer_h)
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colours[role])
        canvas.paste(_picture(record, tile, role == "junk"), (left + BORDER, top + BORDER))
        draw.text((left, top + outer_h + 2), label, fill=TEXT, font=font)
        draw.text((left, top + outer_h + 15), distance, fill=TEXT, font=font)
        tiles.append(Tile(role, g, rank, box))
        left += outer_w + (QUERY_GAP if role == "query" else GAP)
    return canvas, tiles


def _file_name(position: int, record: ImageRecord) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(record.name).with_suffix("").as_posix())
    return f"{position:03d}_{stem}.png"


def write_rank_figures(
    distmat: torch.Tensor, query: Sequence[ImageRecord], gallery: Sequence[ImageRecord],
    out_dir: str | Path, *, count: int, seed: int = 0, worst: bool = False, top: int = 10,
    tile: tuple[int, int] = (128, 64),
) -> list[dict[str, object]]:
    """PNGs of `count` queries' ranked lists in `out_dir` (worst AP first, or a seeded draw
    spread over cameras); returns what each file shows."""
    ap: np.ndarray = query_average_precision(distmat, query, gallery)
    written = []
    for position, index in enumerate(pick_queries(query, ap, count, seed=seed, worst=worst), 1):
        ranked = ranked_list(distmat, query, gallery, index, top=top)
        image, _ = draw_ranked_list(ranked, query, gallery, tile=tile)
        path = Path(out_dir) / _file_name(position, query[index])
        save_image(image, path)
        written.append({"query": query[index].name, "ap": ranked.ap, "file": str(path),
                        "ranked": [gallery[i.gallery_index].name for i in ranked.items
                                   if not i.junk]})
    return written
