"""`reidkit synth`: generate a synthetic ReID dataset in the Market-1501 layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.synth import SynthConfig, run_synth

C = SynthConfig


@cli.user_errors
def run(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="New folder for the dataset (must not exist or be empty); "
                     "required (here or in --config)."),
    ] = None,
    ids: Annotated[
        int | None, cli.opt(C, "ids", help="Identities (half train, half test).")
    ] = None,
    cameras: Annotated[int | None, cli.opt(C, "cameras", help="Cameras (2..9).")] = None,
    images_per_id: Annotated[
        int | None, cli.opt(C, "images_per_id", help="Images of each identity, over 2+ cameras.")
    ] = None,
    size: Annotated[str | None, cli.opt(C, "size", help="Image size HEIGHTxWIDTH.")] = None,
    seed: Annotated[
        int | None, cli.opt(C, "seed", help="Random seed: same seed, same dataset.")
    ] = None,
    camera_gap: Annotated[
        float | None,
        cli.opt(C, "camera_gap",
            help="How much the cameras' scenes and light differ: 1 each its own, 0 all shared."),
    ] = None,
    scene_base: Annotated[
        str | None,
        cli.opt(C, "scene_base",
            help="The scene a gap below 1 blends towards: camera0 (camera 0's drawn scene) or "
                 "neutral (one mid-grey, evenly lit scene for every seed, so the seed changes "
                 "the people, not how dark the whole set is)."),
    ] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Generate a synthetic person ReID dataset (Market-1501 layout) with body ground truth."""
    config = cli.config_from(SynthConfig, run, locals())
    result = run_synth(config)
    if json_out:
        cli.print_json(result)
        return
    rows = [
        (split, result["counts"][split], result["ids"][split])
        for split in ("train", "query", "gallery")
    ]
    cli.print_table(f"synth → {result['out']}", ["split", "images", "ids"], rows)
    cli.print_table(
        "generation",
        ["images", "seconds", "images/s"],
        [(result["images"], result["seconds"], result["images_per_s"])],
    )
