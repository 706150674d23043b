"""`reidkit generate`: novel views, structure swaps and identity interpolation from a trained
generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands._cli import (
    DeviceOpt,
    JsonOpt,
    parse_csv,
    parse_size,
    print_json,
    print_table,
    user_errors,
)


def _pair(text: str | None, option: str) -> tuple[str, str] | None:
    if text is None:
        return None
    items = parse_csv(text, str, option)
    if len(items) != 2 or not all(items):
        raise typer.BadParameter(f"'{text}' is not two images A,B", param_hint=option)
    return items[0], items[1]


HELP = {
    "checkpoint": "gen-warmup.pt, train-joint.pt or a checkpoint written by `reidkit import`.",
    "dataset": "Dataset layout (default: the checkpoint's).",
    "data-root": "Dataset folder (default: the checkpoint's).",
    "mesh-root": "Mesh renders folder (default: the checkpoint's).",
    "split": "train, query, gallery or test (query + gallery).",
    "angles": "Comma-separated rotations among 45,90,...,315 (default: all seven).",
    "limit": "Only the first N images of the split (default: all).",
    "out": "Output folder (default: <checkpoint folder>/generated).",
    "swap": "A,B: draw A's structure with B's identity (file names or indices in the split); "
    "default: none, novel views.",
    "interpolate": "A,B: interpolate the identity from A to B on A's structure (paper Fig. 7); "
    "default: none, novel views.",
    "steps": "Interpolation steps, both ends included.",
    "size": "HEIGHTxWIDTH (default: the checkpoint's).",
}


@user_errors
def run(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help=HELP["checkpoint"])],
    dataset: Annotated[str | None, typer.Option("--dataset", help=HELP["dataset"])] = None,
    data_root: Annotated[Path | None, typer.Option("--data-root", help=HELP["data-root"])] = None,
    mesh_root: Annotated[Path | None, typer.Option("--mesh-root", help=HELP["mesh-root"])] = None,
    split: Annotated[str, typer.Option("--split", help=HELP["split"])] = "test",
    angles: Annotated[str | None, typer.Option("--angles", help=HELP["angles"])] = None,
    limit: Annotated[int | None, typer.Option("--limit", help=HELP["limit"])] = None,
    out: Annotated[Path | None, typer.Option("--out", help=HELP["out"])] = None,
    swap: Annotated[str | None, typer.Option("--swap", help=HELP["swap"])] = None,
    interpolate: Annotated[
        str | None,
        typer.Option("--interpolate", help=HELP["interpolate"]),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help=HELP["steps"])] = 8,
    size: Annotated[str | None, typer.Option("--size", help=HELP["size"])] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 16,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Generate novel views, structure swaps or identity interpolations."""
    from reidkit.errors import ConfigError
    from reidkit.stages.generate import GenerateConfig, run_generate

    if swap and interpolate:
        raise ConfigError("--swap and --interpolate are separate figures", fix="pass one of them")
    cfg = GenerateConfig(
        checkpoint=checkpoint, dataset=dataset, data_root=data_root, mesh_root=mesh_root,
        split=split, limit=limit, out=out, swap=_pair(swap, "--swap"),
        interpolate=_pair(interpolate, "--interpolate"), steps=steps,
        size=parse_size(size) if size else None, batch_size=batch_size, device=device,
        **({"angles": tuple(parse_csv(angles, int, "--angles"))} if angles else {}),
    )
    result = run_generate(cfg)
    if json_out:
        print_json(result)
        return
    rows = [[k, v if not isinstance(v, list) else len(v)] for k, v in result.items()]
    print_table(f"generate ({result['mode']})", ["", "value"], rows)
