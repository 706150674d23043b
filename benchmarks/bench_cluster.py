"""Pseudo-label clustering at scale: our sparse k-reciprocal Jaccard + DBSCAN vs the field's dense
`compute_jaccard_distance`, on clustered synthetic features (Gaussian blobs on the 512-d sphere).

Each case runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.

    .venv/bin/python benchmarks/bench_cluster.py                    # Market size, ours + dense
    .venv/bin/python benchmarks/bench_cluster.py --cases market,msmt,100k --no-dense
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = {"market": 12_936, "msmt": 32_621, "100k": 100_000}
DIM = 512


def blobs(n: int, seed: int = 0) -> np.ndarray:
    """~n/17 identities of varied size and spread; identities share 'scene' directions so that
    neighbourhoods overlap across identities, as real re-id features do."""
    rng = np.random.default_rng(seed)
    ids = max(1, n // 17)
    scenes = rng.normal(size=(max(1, ids // 20), DIM))
    centres = rng.normal(size=(ids, DIM)) + 0.8 * scenes[rng.integers(0, len(scenes), ids)]
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    owner = rng.choice(ids, size=n, p=rng.dirichlet(np.full(ids, 5.0)))
    spread = rng.uniform(0.5, 1.0, ids)[owner, None]
    x = centres[owner] + spread * rng.normal(size=(n, DIM)) / np.sqrt(DIM)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(x: np.ndarray, eps: float) -> dict:
    from reidkit.cluster.jaccard import encode, jaccard_from_encoding
    from reidkit.cluster.knn import knn
    from reidkit.cluster.labels import dbscan_sparse

    t0 = time.perf_counter()
    sims, rank = knn(x, 30)
    t1 = time.perf_counter()
    dist = jaccard_from_encoding(encode(x, sims, rank, 30, 6))
    t2 = time.perf_counter()
    labels = dbscan_sparse(dist, eps, 4)
    t3 = time.perf_counter()
    return {"knn_s": t1 - t0, "jaccard_s": t2 - t1, "dbscan_s": t3 - t2, "total_s": t3 - t0,
            "stored_pairs": int(dist.nnz), "labels": labels}


def _k_reciprocal_neigh(initial_rank, i, k1):
    forward = initial_rank[i, : k1 + 1]
    backward = initial_rank[forward, : k1 + 1]
    return forward[np.where(backward == i)[0]]


def run_dense(x: np.ndarray, eps: float) -> dict:
    """The reference `compute_jaccard_distance(k1=30, k2=6)` (faiss CPU search, float32 N×N
    matrices, Python loops) followed by DBSCAN on the dense matrix, as the field runs it."""
    import faiss
    import torch
    import torch.nn.functional as F
    from sklearn.cluster import DBSCAN

    k1, k2 = 30, 6
    t0 = time.perf_counter()
    features = torch.from_numpy(x)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    _, initial_rank = index.search(x, k1)
    n = len(x)
    nn_k1 = [_k_reciprocal_neigh(initial_rank, i, k1) for i in range(n)]
    nn_half = [_k_reciprocal_neigh(initial_rank, i, int(np.around(k1 / 2))) for i in range(n)]
    v = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        recip = nn_k1[i]
        expansion = recip
        for candidate in recip:
            half = nn_half[candidate]
            if len(np.intersect1d(half, recip)) > 2 / 3 * len(half):
                expansion = np.append(expansion, half)
        expansion = np.unique(expansion)
        dist = 2 - 2 * torch.mm(features[i].unsqueeze(0), features[expansion].t())
        v[i, expansion] = F.softmax(-dist, dim=1).view(-1).numpy()
    v_qe = np.zeros_like(v)
    for i in range(n):
        v_qe[i, :] = np.mean(v[initial_rank[i, :k2], :], axis=0)
    v = v_qe
    del v_qe
    inv_index = [np.where(v[:, i] != 0)[0] for i in range(n)]
    jaccard = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        temp_min = np.zeros((1, n), dtype=np.float32)
        nonzero = np.where(v[i, :] != 0)[0]
        images = [inv_index[j] for j in nonzero]
        for j in range(len(nonzero)):
            temp_min[0, images[j]] += np.minimum(v[i, nonzero[j]], v[images[j], nonzero[j]])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    del inv_index, v
    jaccard[jaccard < 0] = 0
    t2 = time.perf_counter()
    labels = DBSCAN(eps=eps, min_samples=4, metric="precomputed", n_jobs=1).fit_predict(jaccard)
    t3 = time.perf_counter()
    return {"knn+jaccard_s": t2 - t0, "dbscan_s": t3 - t2, "total_s": t3 - t0, "labels": labels}


def worker(case: str, method: str, eps: float, labels_out: str | None) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import torch

    torch.set_num_threads(2)
    n = CASES[case]
    x = blobs(n)
    before = peak_mb()
    result = (run_ours if method == "ours" else run_dense)(x, eps)
    labels = result.pop("labels")
    if labels_out:
        np.save(labels_out, labels)
    result.update(case=case, n=n, method=method, peak_rss_mb=peak_mb(), rss_before_mb=before,
                  clusters=int(labels.max()) + 1, outliers=int((labels < 0).sum()))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="market", help="comma list of market, msmt, 100k")
    parser.add_argument("--no-dense", action="store_true", help="skip the dense reference")
    parser.add_argument("--eps", type=float, default=0.55, help="DBSCAN radius")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--labels-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.eps, args.labels_out)
        return
    root = Path(__file__).resolve().parent.parent
    for case in args.cases.split(","):
        methods = ["ours"] + ([] if args.no_dense or case != "market" else ["dense"])
        saved = {}
        for method in methods:
            out = Path(f"/tmp/bench_cluster_{case}_{method}.npy")
            cmd = [sys.executable, __file__, "--worker", case, method, "--eps", str(args.eps),
                   "--labels-out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
            if proc.returncode != 0:
                print(f"{case} {method}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}")
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            saved[method] = np.load(out)
            times = " ".join(f"{k}={v:.2f}" for k, v in result.items() if k.endswith("_s"))
            print(f"{case:>6} N={result['n']:>6} {method:>5}: {times}  peak RSS "
                  f"{result['peak_rss_mb']:.0f} MB (before clustering {result['rss_before_mb']:.0f}"
                  f" MB)  clusters={result['clusters']} outliers={result['outliers']}"
                  + (f" stored_pairs={result['stored_pairs']}" if "stored_pairs" in result else ""))
        if len(saved) == 2:
            same = np.array_equal(saved["ours"], saved["dense"])
            print(f"{case:>6}: labels identical to the dense reference: {same}")


if __name__ == "__main__":
    main()
