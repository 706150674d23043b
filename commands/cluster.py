"""`reidkit cluster`: pseudo labels of a dataset split from a checkpoint's identity encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reidkit.commands import _cli as cli
from reidkit.stages.cluster import ClusterConfig, run_cluster

DIAGNOSTIC = "diagnostic (uses ground truth)"


def table(result: dict) -> tuple[str, tuple[str, str], list[list]]:
    """Title, columns and rows of the clustering statistics (diagnostics only where the file
    names carry true ids)."""
    title = (f"{result['dataset']} {result['split']}: pseudo labels"
             f"{' (joint visual-temporal)' if result['temporal'] else ''} → {result['out']}")
    return title, ("statistic", "value"), _rows(result)


def _rows(result: dict) -> list[list]:
    rows = [
        ["images", result["images"]],
        ["clusters", result["clusters"]],
        ["outliers", f"{result['outliers']} ({100 * result['outlier_fraction']:.1f} %)"],
        ["largest cluster", result["largest_cluster"]],
        ["mean cluster size", result["mean_cluster_size"]],
        ["in one-camera clusters", f"{100 * result['one_camera_share']:.1f} %"],
        [f"eps ({result['eps_rule']})", f"{result['eps']:.4f}"],
        ["distance", result["distance"]],
    ]
    rows += [[f"clusters of size {k}", v] for k, v in result["size_histogram"].items()]
    diagnostics = result.get(DIAGNOSTIC)
    if diagnostics:
        rows.append([f"true ids ({DIAGNOSTIC})", diagnostics["true_ids"]])
        for key in ("nmi", "ari", "purity"):
            rows.append([f"{key.upper()} ({DIAGNOSTIC})", f"{diagnostics[key]:.4f}"])
    return rows


C = ClusterConfig


@cli.user_errors
def run(
    dataset: cli.GivenDatasetOpt = None,
    data_root: cli.GivenDataRootOpt = None,
    checkpoint: cli.CheckpointOpt = None,
    eps: Annotated[
        float | None,
        typer.Option(
            "--eps",
            help="Fixed DBSCAN radius (ICE uses 0.55); excludes --rho (default: none, the "
            "rho rule).",
        ),
    ] = None,
    rho: Annotated[
        float | None,
        typer.Option(
            "--rho",
            help="rho rule: eps = mean of the smallest rho-fraction of pairwise Jaccard "
            "distances (default 0.002, msmt 0.0012); excludes --eps.",
        ),
    ] = None,
    k1: Annotated[int | None, cli.opt(C, "k1", help="k-reciprocal neighbourhood size.")] = None,
    k2: Annotated[int | None, cli.opt(C, "k2", help="Local query expansion size.")] = None,
    min_samples: Annotated[
        int | None, cli.opt(C, "min_samples", help="DBSCAN core-point neighbourhood size.")
    ] = None,
    rerank_lambda: Annotated[
        float | None,
        typer.Option(
            "--rerank-lambda",
            help="JVTC's rule: cluster (1-λ)·Jaccard + λ·row-normalised squared distance, as the "
            "authors' re_ranking (JVTC: --rerank-lambda 0.3 --k1 20 --min-samples 1 --rho "
            "0.0016); default: none, the plain Jaccard distance.",
        ),
    ] = None,
    temporal: Annotated[
        bool,
        typer.Option(
            "--temporal",
            help="JVTC+: mix the joint visual-temporal distance into the Jaccard distance; with "
            "--rerank-lambda, re-rank the joint distance instead (market, duke, msmt file names).",
        ),
    ] = False,
    temporal_lambda: Annotated[
        float | None,
        cli.opt(C, "temporal_lambda", help="λ of the re-ranked joint distance (JVTC+: 0.5)."),
    ] = None,
    split: Annotated[
        str | None, cli.opt(C, "split", help="Which split to cluster: train, query or gallery.")
    ] = None,
    out: Annotated[
        Path | None,
        cli.opt(C, "out", help="CSV of (image name, label); label -1 marks an outlier."),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            help="Input HEIGHTxWIDTH; default: the checkpoint's training size, else 256x128.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None, cli.opt(C, "batch_size", help="Images per forward pass.")
    ] = None,
    device: Annotated[str | None, cli.opt(C, "device", help=cli.DEVICE_HELP)] = None,
    camera_regex: Annotated[
        str | None,
        typer.Option(
            "--camera-regex",
            help="folder datasets: regex with one group giving the camera id "
            "(default: none, the dataset's own naming).",
        ),
    ] = None,
    config: cli.ConfigOpt = None,
    json_out: cli.JsonOpt = False,
) -> None:
    """Cluster a dataset split into pseudo identities (k-reciprocal Jaccard + DBSCAN; JVTC's
    re-ranked distance with --rerank-lambda).

    Writes one `name,label` line per image (-1 = outlier) and prints the clustering statistics;
    NMI/ARI/purity are shown only when the file names carry true ids, as diagnostics.
    """
    config = cli.config_from(ClusterConfig, run, locals(), one_of=("eps", "rho"))
    cli.report(run_cluster(config), json_out, table)
