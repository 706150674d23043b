"""Fréchet Inception Distance between two sets of activations, exact for any number of images.

FID = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2). The trace term is computed from
symmetric eigenvalue problems instead of scipy's non-symmetric `sqrtm` (pytorch-fid): the same
value, but stable when the covariances are singular (fewer images than dimensions) and solved in
the smaller of the feature space and the sample space.
"""

from __future__ import annotations

import numpy as np

from reidkit.errors import DatasetError


def statistics(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of (N, d) activations, in float64, as pytorch-fid."""
    act = np.asarray(act, dtype=np.float64)
    return act.mean(axis=0), np.cov(act, rowvar=False)


def _sym_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _trace_sqrt_psd(matrix: np.ndarray) -> float:
    """Σ sqrt(λ) of a symmetric positive semi-definite matrix (round-off negatives as 0)."""
    values = np.linalg.eigvalsh((matrix + matrix.T) / 2)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """FID from statistics: tr sqrt(S1 S2) = tr sqrt(R S2 R), R = sqrt(S1) (symmetric)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("the two sets of statistics have different dimensions")
    root = _sym_sqrt(sigma1)
    diff = mu1 - mu2
    cross = _trace_sqrt_psd(root @ sigma2 @ root)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * cross)


def fid_from_activations(act1: np.ndarray, act2: np.ndarray) -> float:
    """FID of two (N, d) activation sets. With fewer images than dimensions the trace term is
    taken in sample space: eig(S1 S2) ≠ 0 equal eig(A S2 Aᵀ)/(n1 - 1), A the centred set."""
    act1, act2 = np.asarray(act1, dtype=np.float64), np.asarray(act2, dtype=np.float64)
    for act in (act1, act2):
        if act.ndim != 2 or act.shape[0] < 2:
            raise DatasetError(f"FID needs at least 2 images per set, got {act.shape[0]}")
    if act1.shape[0] > act2.shape[0]:
        act1, act2 = act2, act1
    n1, dims = act1.shape
    n2 = act2.shape[0]
    if n1 > dims:
        return frechet_distance(*statistics(act1), *statistics(act2))
    mu1, mu2 = act1.mean(axis=0), act2.mean(axis=0)
    centred1, centred2 = act1 - mu1, act2 - mu2
    sigma2 = centred2.T @ centred2 / (n2 - 1)
    cross = _trace_sqrt_psd(centred1 @ sigma2 @ centred1.T / (n1 - 1))
    diff = mu1 - mu2
    trace1 = float((centred1**2).sum() / (n1 - 1))
    return float(diff @ diff + trace1 + np.trace(sigma2) - 2.0 * cross)
