"""Draw docs/synth-mesh.png: synthetic people from `reidkit synth` (one per row, from different
cameras) followed by their `reidkit mesh` renders: the original view, then 45 ... 315 degrees.

    .venv/bin/python docs/make_synth_grid.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from reidkit import log
from reidkit.data.datasets import load_dataset
from reidkit.stages.mesh import render_folders, run_mesh, synth_mesh_config
from reidkit.stages.synth import SynthConfig, run_synth

ROWS = 4
H, W = 128, 64


def main() -> None:
    """Generate a small dataset, render its query meshes and paste the grid."""
    log.set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        data, mesh = Path(tmp) / "synth", Path(tmp) / "mesh"
        run_synth(SynthConfig(out=data, ids=8, cameras=4, images_per_id=8, seed=1))
        run_mesh(synth_mesh_config(data, mesh, splits=("test",), size=(H, W), device="cpu"))
        records = load_dataset("market", data).query[:ROWS]
        folders = render_folders((45, 90, 135, 180, 225, 270, 315))
        grid = Image.new("RGB", (W * (1 + len(folders)), H * len(records)))
        for row, record in enumerate(records):
            grid.paste(Image.open(record.path).convert("RGB"), (0, row * H))
            for col, folder in enumerate(folders, start=1):
                render = Image.open(mesh / "test" / folder / record.name).convert("RGB")
                grid.paste(render, (col * W, row * H))
        grid.save(Path(__file__).with_name("synth-mesh.png"))


if __name__ == "__main__":
    main()
