"""Pseudo labels for unsupervised re-id: exact kNN, k-reciprocal Jaccard distance, DBSCAN (fixed eps
or the rho rule) in bounded memory, JVTC's re-ranked distance, the JVTC+ temporal model, and
clustering statistics."""

from reidkit.cluster.jaccard import jaccard_distance
from reidkit.cluster.knn import knn
from reidkit.cluster.labels import cluster_jaccard, pseudo_labels, rho_eps
from reidkit.cluster.rerank_cluster import rerank_cluster, rerank_temporal_labels
from reidkit.cluster.stats import cluster_stats, one_camera_share

__all__ = [
    "cluster_jaccard",
    "cluster_stats",
    "jaccard_distance",
    "knn",
    "one_camera_share",
    "pseudo_labels",
    "rerank_cluster",
    "rerank_temporal_labels",
    "rho_eps",
]
