"""`reidkit synth`: generate a synthetic ReID dataset in the Market-1501 layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands._cli import JsonOpt, parse_size, print_json, print_table, user_errors
from reidkit.config import resolve_config
from reidkit.stages.synth import SynthConfig, run_synth


@user_errors
def run(
    out: Annotated[
        Path, typer.Option("--out", help="New folder for the dataset (must not exist or be empty).")
    ],
    ids: Annotated[int, typer.Option("--ids", help="Identities (half train, half test).")] = 100,
    cameras: Annotated[int, typer.Option("--cameras", help="Cameras (2..9).")] = 4,
    images_per_id: Annotated[
        int, typer.Option("--images-per-id", help="Images of each identity, over 2+ cameras.")
    ] = 16,
    size: Annotated[str, typer.Option("--size", help="Image size HEIGHTxWIDTH.")] = "128x64",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same dataset.")] = 0,
    camera_gap: Annotated[
        float,
        typer.Option(
            "--camera-gap",
            help="How much the cameras' scenes and light differ: 1 each its own, 0 all shared.",
        ),
    ] = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Generate a synthetic person ReID dataset (Market-1501 layout) with body ground truth."""
    config = resolve_config(
        SynthConfig,
        None,
        out=out,
        ids=ids,
        cameras=cameras,
        images_per_id=images_per_id,
        size=parse_size(size),
        seed=seed,
        camera_gap=camera_gap,
    )
    result = run_synth(config)
    if json_out:
        print_json(result)
        return
    rows = [
        (split, result["counts"][split], result["ids"][split])
        for split in ("train", "query", "gallery")
    ]
    print_table(f"synth → {result['out']}", ["split", "images", "ids"], rows)
    print_table(
        "generation",
        ["images", "seconds", "images/s"],
        [(result["images"], result["seconds"], result["images_per_s"])],
    )
