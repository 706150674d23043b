"""Pseudo labels for unsupervised re-id: exact kNN, sparse k-reciprocal Jaccard distance, DBSCAN
(fixed eps or the rho rule), the JVTC+ temporal model, and clustering statistics."""

from reidkit.cluster.jaccard import jaccard_distance
from reidkit.cluster.knn import knn
from reidkit.cluster.labels import cluster_features, pseudo_labels, rho_eps
from reidkit.cluster.stats import cluster_stats, one_camera_share

__all__ = [
    "cluster_features",
    "cluster_stats",
    "jaccard_distance",
    "knn",
    "one_camera_share",
    "pseudo_labels",
    "rho_eps",
]
