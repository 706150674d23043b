"""`reidkit data`: check a dataset folder and summarise its splits."""

from __future__ import annotations

from reidkit.commands import _cli as cli
from reidkit.data.datasets import load_dataset


@cli.user_errors
def run(
    dataset: cli.DatasetOpt,
    data_root: cli.DataRootOpt,
    camera_regex: cli.CameraRegexOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Check a dataset's layout and print images / identities / cameras per split + fingerprint."""
    data = load_dataset(dataset, data_root, camera_regex=camera_regex)
    summary, fingerprint = data.summary(), data.fingerprint()
    if json_out:
        cli.print_json({"dataset": data.name, "root": str(data.root), "splits": summary,
                    "fingerprint": fingerprint})
        return
    cli.print_table(
        f"{data.name} at {data.root} (fingerprint {fingerprint['sha256'][:12]})",
        ("split", "images", "ids", "cameras"),
        [[row["split"], row["images"], row["ids"], row["cameras"]] for row in summary],
    )
