"""Exact k nearest neighbours by cosine similarity: faiss (GPU when CUDA is present, CPU
otherwise), or a chunked pure-torch search when faiss cannot be imported."""

from __future__ import annotations

import numpy as np
import torch

from reidkit.device import resolve_device

_CHUNK = 2048


def as_unit_rows(features: torch.Tensor | np.ndarray) -> np.ndarray:
    """float32 C-contiguous rows of unit L2 norm (the reference works on normalised features)."""
    array = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"features must be a 2-D array, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _knn_faiss(faiss, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat inner-product index: exact search, on the GPU when faiss and torch both see one."""
    use_gpu = (
        torch.cuda.is_available()
        and hasattr(faiss, "StandardGpuResources")
        and faiss.get_num_gpus() > 0
    )
    if use_gpu:
        resources = faiss.StandardGpuResources()
        index = faiss.GpuIndexFlatIP(resources, x.shape[1])
    else:
        index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, idx = index.search(x, k)
    return sims.astype(np.float32), idx.astype(np.int64)


def _knn_torch(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunked matmul + topk: memory is chunk × N, never N × N."""
    base = torch.from_numpy(x).to(resolve_device("auto"))
    sims = np.empty((len(x), k), dtype=np.float32)
    idx = np.empty((len(x), k), dtype=np.int64)
    for start in range(0, len(x), _CHUNK):
        block = base[start : start + _CHUNK] @ base.T
        values, indices = torch.topk(block, k, dim=1, largest=True, sorted=True)
        sims[start : start + _CHUNK] = values.cpu().numpy()
        idx[start : start + _CHUNK] = indices.cpu().numpy()
    return sims, idx


def knn(
    features: torch.Tensor | np.ndarray, k: int, *, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """The k most cosine-similar rows of every row, self included, best first.

    Returns (similarities float32 [N, k], indices int64 [N, k]). `k` is capped at N.
    `backend`: auto (faiss when importable, else torch), faiss or torch.
    """
    x = as_unit_rows(features)
    k = min(int(k), len(x))
    if k < 1:
        raise ValueError("k must be at least 1 and features non-empty")
    faiss = _faiss() if backend in ("auto", "faiss") else None
    if backend == "faiss" and faiss is None:
        raise ImportError("faiss is not installed")
    if faiss is not None:
        return _knn_faiss(faiss, x, k)
    return _knn_torch(x, k)
