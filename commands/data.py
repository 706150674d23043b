"""`reidkit data`: check a dataset folder and summarise its splits."""

from __future__ import annotations

from reidkit.commands._cli import (
    CameraRegexOpt,
    DataRootOpt,
    DatasetOpt,
    JsonOpt,
    print_json,
    print_table,
    user_errors,
)
from reidkit.data.datasets import load_dataset


@user_errors
def run(
    dataset: DatasetOpt,
    data_root: DataRootOpt,
    camera_regex: CameraRegexOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a dataset's layout and print images / identities / cameras per split + fingerprint."""
    data = load_dataset(dataset, data_root, camera_regex=camera_regex)
    summary, fingerprint = data.summary(), data.fingerprint()
    if json_out:
        print_json({"dataset": data.name, "root": str(data.root), "splits": summary,
                    "fingerprint": fingerprint})
        return
    print_table(
        f"{data.name} at {data.root} (fingerprint {fingerprint['sha256'][:12]})",
        ("split", "images", "ids", "cameras"),
        [[row["split"], row["images"], row["ids"], row["cameras"]] for row in summary],
    )
