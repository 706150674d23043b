"""Ranked lists and their pictures on a hand-made case: a few records, a hand-written distance
matrix, the protocol's junk rule (same pid and camera, or pid −1) worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data.records import ImageRecord
from reidkit.evaluation.rank import evaluate_rank
from reidkit.evaluation.rank_figures import draw_ranked_list, write_rank_figures
from reidkit.evaluation.ranked import pick_queries, query_average_precision, ranked_list

TILE = (24, 12)
# (pid, camera, colour) of the gallery; the colours are saturated so greying shows.
GALLERY = [
    (1, 0, (0, 0, 255)),      # g0: query 0's id on query 0's camera → junk
    (2, 1, (255, 128, 0)),    # g1: another id → wrong
    (1, 1, (255, 0, 255)),    # g2: query 0's id, other camera → match
    (-1, 2, (0, 255, 255)),   # g3: pid −1 → junk for every query
    (0, 1, (128, 0, 255)),    # g4: distractor (pid 0) → wrong, counted
    (1, 2, (255, 255, 0)),    # g5: match
    (3, 0, (0, 128, 128)),    # g6: query 2's id on another camera → its match
]
QUERY = [(1, 0), (2, 1), (3, 1)]
DIST = [
    [0.10, 0.20, 0.30, 0.05, 0.40, 0.40, 0.90],  # g4 and g5 tie: the match ranks first
    [0.50, 0.10, 0.60, 0.70, 0.80, 0.90, 0.95],  # query 1: its only same-id item is junk
    [0.40, 0.10, 0.20, 0.60, 0.30, 0.70, 0.50],
]


def _record(root: Path, split: str, i: int, pid: int, cam: int, colour) -> ImageRecord:
    path = root / split / f"{i}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 32), colour).save(path)
    return ImageRecord(path=path, name=f"{i}.png", pid=pid, camid=cam, split=split)


@pytest.fixture
def case(tmp_path):
    gallery = [_record(tmp_path, "gallery", i, p, c, rgb) for i, (p, c, rgb) in enumerate(GALLERY)]
    query = [_record(tmp_path, "query", i, p, c, (90, 90, 90)) for i, (p, c) in enumerate(QUERY)]
    return query, gallery, torch.tensor(DIST)


def test_order_ranks_and_junk(case):
    query, gallery, dist = case
    ranked = ranked_list(dist, query, gallery, 0, top=5)
    shown = [(i.gallery_index, i.rank, i.junk, i.match) for i in ranked.items]
    assert shown == [
        (3, None, True, False),   # 0.05, pid −1: junk, no rank
        (0, None, True, False),   # 0.10, same id and camera: junk, no rank
        (1, 1, False, False),
        (2, 2, False, True),
        (5, 3, False, True),      # tie at 0.40: match before the distractor
        (4, 4, False, False),
        (6, 5, False, False),
    ]
    assert ranked.ap == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert ranked.num_matches == 2 and ranked.junk_hidden == 0


def test_top_counts_ranked_items_only_and_junk_cap(case):
    query, gallery, dist = case
    ranked = ranked_list(dist, query, gallery, 0, top=2, max_junk=1)
    assert [(i.gallery_index, i.rank) for i in ranked.items] == [(3, None), (1, 1), (2, 2)]
    assert ranked.junk_hidden == 1


def test_query_ap_by_hand_and_against_the_protocol(case):
    query, gallery, dist = case
    ap = query_average_precision(dist, query, gallery)
    # query 2 (pid 3, camera 1): g6 at 0.50 comes after g1, g2, g4, g0 (0.40: pid 1 on camera 0
    # is an ordinary non-match for it) → rank 5
    assert ap[0] == pytest.approx(7 / 12) and np.isnan(ap[1]) and ap[2] == pytest.approx(1 / 5)
    rng = np.random.default_rng(3)
    q_p, q_c = rng.integers(0, 6, 40), rng.integers(0, 3, 40)
    g_p, g_c = rng.integers(-1, 6, 200), rng.integers(0, 3, 200)
    big = torch.from_numpy(rng.random((40, 200)))
    fake = [ImageRecord(Path("x"), "x", int(p), int(c), "q") for p, c in zip(q_p, q_c, strict=True)]
    fake_g = [ImageRecord(Path("x"), "x", int(p), int(c), "g")
              for p, c in zip(g_p, g_c, strict=True)]
    per_query = query_average_precision(big, fake, fake_g, block=7)
    reference = evaluate_rank(big, q_p, g_p, q_c, g_c)
    assert np.nanmean(per_query) == pytest.approx(reference.mAP, abs=1e-12)
    assert int((~np.isnan(per_query)).sum()) == reference.valid_queries


def _colour(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    return image.getpixel(xy)[:3]


def is_green(c):
    return c[1] > 120 and c[0] < 80 and c[2] < 120


def is_red(c):
    return c[0] > 150 and c[1] < 80 and c[2] < 80


def is_grey(c):
    return max(c) - min(c) <= 6 and 90 < c[0] < 220


def test_picture_borders_follow_the_junk_rule(case):
    query, gallery, dist = case
    ranked = ranked_list(dist, query, gallery, 0, top=5)
    image, tiles = draw_ranked_list(ranked, query, gallery, tile=TILE)
    assert tiles[0].role == "query"
    gallery_tiles = tiles[1:]
    assert [t.gallery_index for t in gallery_tiles] == [3, 0, 1, 2, 5, 4, 6]
    expected = {3: is_grey, 0: is_grey, 1: is_red, 2: is_green, 5: is_green, 4: is_red, 6: is_red}
    lefts = [t.box[0] for t in tiles]
    assert lefts == sorted(lefts)  # left to right in ranked order
    for t in gallery_tiles:
        left, top, right, bottom = t.box
        for xy in ((left, top), (right - 1, bottom - 1), (left + 1, (top + bottom) // 2)):
            assert expected[t.gallery_index](_colour(image, xy)), (t, xy, _colour(image, xy))
        centre = _colour(image, ((left + right) // 2, (top + bottom) // 2))
        source = GALLERY[t.gallery_index][2]
        if t.role == "junk":
            assert max(centre) - min(centre) <= 2  # greyed, although the image is saturated
        else:
            assert np.abs(np.subtract(centre, source)).max() <= 8  # shown as it is
    assert [t.rank for t in gallery_tiles] == [None, None, 1, 2, 3, 4, 5]


def test_pick_queries_worst_first_and_spread_over_cameras():
    cams = [0, 0, 0, 1, 1, 2, 2, 2]
    records = [ImageRecord(Path("x"), f"{i}", 1, c, "query") for i, c in enumerate(cams)]
    ap = np.array([0.9, 0.2, np.nan, 0.5, 0.1, 0.7, 0.2, 1.0])
    assert pick_queries(records, ap, 4, worst=True) == [4, 1, 6, 3]
    first = pick_queries(records, ap, 3, seed=5)
    assert sorted(cams[i] for i in first) == [0, 1, 2]
    assert pick_queries(records, ap, 3, seed=5) == first
    every = pick_queries(records, ap, 20, seed=1)
    assert sorted(every) == [0, 1, 3, 4, 5, 6, 7]  # the query without a match is never shown


def test_write_rank_figures_writes_one_png_per_query(case, tmp_path):
    query, gallery, dist = case
    out = tmp_path / "figs"
    files = write_rank_figures(dist, query, gallery, out, count=5, worst=True, tile=TILE)
    assert [f["query"] for f in files] == ["2.png", "0.png"]  # AP 0.2, then 0.58; query 1 none
    assert files[1]["ranked"] == ["1.png", "2.png", "5.png", "4.png", "6.png"]
    assert sorted(p.name for p in out.iterdir()) == ["001_2.png", "002_0.png"]
    assert Image.open(out / "002_0.png").format == "PNG"
