"""`reidkit score-gen`: FID and intra-class SSIM of generated images, one row per generator."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.errors import ConfigError
from reidkit.scoring import table
from reidkit.stages.score_gen import ScoreGenConfig, run_score_gen

C = ScoreGenConfig


def parse_generated(items: list[str]) -> dict[str, str]:
    """NAME=DIR options into an ordered mapping, refusing bad syntax and repeated names."""
    generated: dict[str, str] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        name, folder = name.strip(), folder.strip()
        if not sep or not name or not folder:
            raise ConfigError(
                f"--generated '{item}' is not NAME=DIR", fix="e.g. --generated GCL=out/test"
            )
        if name in generated:
            raise ConfigError(f"--generated name '{name}' is given twice", fix="use unique names")
        generated[name] = folder
    return generated


@cli.user_errors
def run(
    real: Annotated[
        Path | None,
        typer.Option(
            "--real",
            help="Folder of real images (the training images, DG-Net); required (here or in "
            "--config).",
        ),
    ] = None,
    generated: Annotated[
        list[str] | None,
        typer.Option(
            "--generated",
            help="NAME=DIR of generated images; repeat for more rows (default: none, then "
            "--real-row is required).",
        ),
    ] = None,
    real_row: Annotated[
        bool,
        typer.Option(
            "--real-row",
            help="Add the Real row: FID between two identity-disjoint "
            "halves of the real images, SSIM over the real images.",
        ),
    ] = False,
    inception_weights: Annotated[
        Path | None,
        typer.Option(
            "--inception-weights",
            help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: the torch "
            "hub cache, checkpoints/).",
        ),
    ] = None,
    allow_untrained_inception: Annotated[
        bool,
        typer.Option(
            "--allow-untrained-inception",
            help="Tests/smoke runs only: without weights use a seeded untrained network; "
            "every output is marked UNTRAINED — not comparable.",
        ),
    ] = False,
    resize: Annotated[
        str | None,
        typer.Option(
            "--resize",
            help="Resize every image to HxW (needed when sizes differ); default: none, "
            "images as they are.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None, cli.opt(C, "batch_size", help="Images per Inception batch.")
    ] = None,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    workers: Annotated[
        int | None, cli.opt(C, "workers", help="Image-decoding worker processes.")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Activation cache folder (default ~/.cache/reidkit/fid)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the activation cache.")
    ] = False,
    id_regex: Annotated[
        str | None,
        typer.Option(
            "--id-regex",
            help="Regex with one group = identity, searched in the file "
            "name (in the relative path if it contains '/'); default Market/Duke/MSMT.",
        ),
    ] = None,
    ssim_pairs_per_id: Annotated[
        int | None,
        cli.opt(C, "ssim_pairs_per_id", help="SSIM pairs sampled per identity (0 = all pairs)."),
    ] = None,
    ssim_channels: Annotated[
        str | None, cli.opt(C, "ssim_channels", help="grey or rgb (per channel, averaged).")
    ] = None,
    seed: Annotated[
        int | None, cli.opt(C, "seed", help="Seed of the SSIM pair sample and the Real row split.")
    ] = None,
    config: cli.ConfigOpt = None,
    as_json: cli.JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table instead of a rich table.")
    ] = False,
) -> None:
    """FID and intra-class SSIM of generated images against the real ones (the paper's Table 4)."""
    if as_json + as_csv + as_markdown > 1:
        raise ConfigError("--json, --csv and --markdown are mutually exclusive", fix="pick one")
    options = locals() | {"generated": parse_generated(generated) if generated else None}
    cfg = cli.config_from(ScoreGenConfig, run, options, output=("as_json", "as_csv", "as_markdown"))
    result = run_score_gen(cfg)
    if as_json:
        cli.print_json(result)
    elif as_csv:
        sys.stdout.write(table.to_csv(result))
    elif as_markdown:
        sys.stdout.write(table.to_markdown(result))
    else:
        columns, rows = table.table(result)
        cli.print_table(table.title(result), columns, rows)
        for line in table.notes(result):
            cli.out.print(line)
