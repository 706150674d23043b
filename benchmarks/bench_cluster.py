"""Pseudo-label clustering at scale: reidkit's bounded-memory Jaccard + DBSCAN against the field's
dense `compute_jaccard_distance`, on two synthetic families of 512-d unit features.

- easy: Gaussian blobs on the sphere, ~N/17 identities of Dirichlet-distributed sizes, centres
  pulled towards shared "scene" directions (neighbourhoods overlap across identities), spread
  U(0.5, 1)/√512 per coordinate: good features, most 30-NN lists right.
- noisy: the same identities with 4× the spread and 5 % of the images replaced by outliers drawn
  uniformly on the sphere: features of an encoder early in training (30-NN precision ≈ 0.28 at
  N = 3,000), where nearly every pair's encodings overlap.

Features are made once per (size, family) in the parent process and saved; every measurement runs
in a fresh process that loads them, so its peak resident memory (ru_maxrss) is its own; "before"
is the peak after loading (runtime + features). Methods:

- ours: `cluster_jaccard` (k1 30, k2 6, min_samples 4), stages kNN / encoding / blocks (sparse
  products, bounds, fixed-eps verification) / verify (rho rule) / DBSCAN.
- dense: the reference `compute_jaccard_distance(k1=30, k2=6)` (faiss, float32 N×N arrays,
  Python loops) + DBSCAN on the dense matrix, run when 3.5·N²·4 bytes fit in free memory. Its
  float32 rounding residues of identical encodings (< 1e-6, exactly 0 in exact arithmetic) are
  set to 0, as ours are (docs/clustering.md); they would otherwise enter the rho rule.
- jvtc: JVTC's rule `rerank_cluster` (k1 20, k2 6, λ 0.3, rho 1.6e-3, min_samples 1).
- train-joint: one train-joint relabel (`joint_setup.cluster_memory`, its default config).

On a CUDA machine the kNN (faiss GPU or torch), the row blocks' sparse products and JVTC's cosine
blocks run on the GPU, and each line adds the peak CUDA memory torch allocated (faiss's own
memory is not counted there).

    .venv/bin/python benchmarks/bench_cluster.py --cases 3000 --families easy,noisy
    .venv/bin/python benchmarks/bench_cluster.py --cases market \
        --methods ours,dense,jvtc,train-joint
    .venv/bin/python benchmarks/bench_cluster.py --cases msmt,100k --methods ours
    .venv/bin/python benchmarks/bench_cluster.py --cases market --methods ours --torch-products
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = {"market": 12_936, "msmt": 32_621, "100k": 100_000}
DIM = 512
CHUNK = 8192


def identities(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, owner of every image, spread of every image (the easy family's)."""
    ids = max(1, n // 17)
    scenes = rng.normal(size=(max(1, ids // 20), DIM))
    centres = rng.normal(size=(ids, DIM)) + 0.8 * scenes[rng.integers(0, len(scenes), ids)]
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    owner = rng.choice(ids, size=n, p=rng.dirichlet(np.full(ids, 5.0)))
    spread = rng.uniform(0.5, 1.0, ids)[owner]
    return centres, owner, spread


def features(n: int, family: str, seed: int = 0) -> np.ndarray:
    """float32 unit rows of the easy or noisy family, made CHUNK rows at a time."""
    rng = np.random.default_rng(seed)
    centres, owner, spread = identities(n, rng)
    scale = 4.0 if family == "noisy" else 1.0
    outlier = rng.random(n) < (0.05 if family == "noisy" else 0.0)
    x = np.empty((n, DIM), dtype=np.float32)
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        noise = rng.normal(size=(b - a, DIM))
        rows = centres[owner[a:b]] + scale * spread[a:b, None] * noise / np.sqrt(DIM)
        rows[outlier[a:b]] = noise[outlier[a:b]]
        x[a:b] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return x


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def available_mb() -> float:
    """MemAvailable of /proc/meminfo (0 when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_ours(x: np.ndarray, rule: dict) -> dict:
    from reidkit.cluster.bounded import JaccardRule
    from reidkit.cluster.collect import cluster_rule, selection
    from reidkit.cluster.jaccard import encode
    from reidkit.cluster.knn import knn

    t0 = time.perf_counter()
    sims, rank = knn(x, 30)
    t1 = time.perf_counter()
    v = encode(x, sims, rank, 30, 6)
    t2 = time.perf_counter()
    chosen = selection(rule.get("eps"), rule.get("rho"), len(x))
    result = cluster_rule(v, JaccardRule(v), chosen, 4, rank)
    seconds = {"knn": t1 - t0, "encode": t2 - t1, **result.seconds}
    return {"seconds": seconds, "eps": result.eps, "kept_pairs": result.kept_pairs,
            "verified_pairs": result.verified_pairs, "labels": result.labels}


def run_jvtc(x: np.ndarray, rule: dict) -> dict:
    from reidkit.cluster.collect import cluster_rule, selection
    from reidkit.cluster.rerank_cluster import RerankRule, VisualDistance, rerank_encoding

    t0 = time.perf_counter()
    dist = VisualDistance(x)
    rank, low, high = dist.scan(21)
    t1 = time.perf_counter()
    v = rerank_encoding(dist, rank, low, high, 20, 6)
    t2 = time.perf_counter()
    chosen = selection(None, 1.6e-3, len(x))
    result = cluster_rule(v, RerankRule(v, dist, low, high, 0.3), chosen, 1, rank)
    seconds = {"scan": t1 - t0, "encode": t2 - t1, **result.seconds}
    return {"seconds": seconds, "eps": result.eps, "kept_pairs": result.kept_pairs,
            "verified_pairs": result.verified_pairs, "labels": result.labels}


def run_train_joint(x: np.ndarray, rule: dict) -> dict:
    import reidkit.cluster.labels  # noqa: F401  (imported by the relabel: not part of its time)
    from reidkit.stages.train_joint import TrainJointConfig
    from reidkit.train.joint_setup import cluster_memory

    t0 = time.perf_counter()
    labels = cluster_memory(x, TrainJointConfig(), 2e-3, None)
    return {"seconds": {"relabel": time.perf_counter() - t0}, "labels": labels}


def _k_reciprocal_neigh(initial_rank, i, k1):
    forward = initial_rank[i, : k1 + 1]
    backward = initial_rank[forward, : k1 + 1]
    return forward[np.where(backward == i)[0]]


def run_dense(x: np.ndarray, rule: dict) -> dict:
    """The reference `compute_jaccard_distance(k1=30, k2=6)` (faiss CPU search, float32 N×N
    matrices, Python loops) followed by the rho rule and DBSCAN on the dense matrix."""
    import faiss
    import torch
    import torch.nn.functional as F
    from sklearn.cluster import DBSCAN

    k1, k2 = 30, 6
    t0 = time.perf_counter()
    feats = torch.from_numpy(x)
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
        dist = 2 - 2 * torch.mm(feats[i].unsqueeze(0), feats[expansion].t())
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
    jaccard[jaccard < 1e-6] = 0  # float32 residues of identical encodings: 0 in exact arithmetic
    t1 = time.perf_counter()
    eps = rule.get("eps")
    if eps is None:
        tri = np.triu(jaccard, 1)
        tri = np.sort(tri[np.nonzero(tri)], axis=None)
        eps = float(tri[: int(np.round(rule["rho"] * tri.size))].mean())
        del tri
    labels = DBSCAN(eps=eps, min_samples=4, metric="precomputed", n_jobs=1).fit_predict(jaccard)
    t2 = time.perf_counter()
    return {"seconds": {"knn+jaccard": t1 - t0, "eps+dbscan": t2 - t1}, "eps": eps,
            "labels": labels}


METHODS = {"ours": run_ours, "dense": run_dense, "jvtc": run_jvtc, "train-joint": run_train_joint}


def worker(path: str, method: str, rule: dict, labels_out: str, torch_products: bool) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import torch

    from reidkit import log
    from reidkit.cluster import bounded

    if torch_products:
        bounded.product_device = lambda: torch.device("cpu")

    torch.set_num_threads(2)
    log.set_quiet(True)
    x = np.load(path)
    before = peak_mb()
    result = METHODS[method](x, rule)
    labels = result.pop("labels")
    np.save(labels_out, labels)
    result["seconds"]["total"] = sum(result["seconds"].values())
    result.update(n=len(x), method=method, peak_rss_mb=peak_mb(), rss_before_mb=before,
                  clusters=int(labels.max()) + 1, outliers=int((labels < 0).sum()))
    if torch.cuda.is_available():
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def _line(label: str, result: dict) -> str:
    times = " ".join(f"{k}={v:.2f}s" for k, v in result["seconds"].items())
    extra = "".join(f" {k}={result[k]:,}" for k in ("kept_pairs", "verified_pairs")
                    if k in result)
    eps = f" eps={result['eps']:.4f}" if "eps" in result else ""
    cuda = f", CUDA {result['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in result else ""
    return (f"{label}: {times}  peak RSS {result['peak_rss_mb']:.0f} MB (before "
            f"{result['rss_before_mb']:.0f} MB{cuda}){eps} clusters={result['clusters']} "
            f"outliers={result['outliers']}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="market",
                        help="comma list of market, msmt, 100k or image counts")
    parser.add_argument("--families", default="easy,noisy", help="comma list of easy, noisy")
    parser.add_argument("--methods", default="ours,dense",
                        help="comma list of ours, dense, jvtc, train-joint")
    parser.add_argument("--rules", default="eps=0.55,rho=0.002",
                        help="eps rules of ours and dense: eps=R and/or rho=R")
    parser.add_argument("--torch-products", action="store_true",
                        help="row blocks' products through torch sparse on the CPU (the CUDA "
                             "route) instead of scipy")
    parser.add_argument("--worker", nargs=3, metavar=("FEATURES", "METHOD", "RULE"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--labels-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], json.loads(args.worker[2]), args.labels_out,
               args.torch_products)
        return
    root = Path(__file__).resolve().parent.parent
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    rules = [dict([(r.split("=")[0], float(r.split("=")[1]))]) for r in args.rules.split(",")]
    for case in args.cases.split(","):
        n = CASES[case] if case in CASES else int(case)
        for family in args.families.split(","):
            path = scratch / f"bench_cluster_{n}_{family}.npy"
            np.save(path, features(n, family))
            saved: dict[tuple[str, str], Path] = {}
            for method in args.methods.split(","):
                need = 3.5 * n * n * 4 / 2**20
                if method == "dense" and need > available_mb():
                    print(f"{case} {family} dense: skipped (needs ~{need / 1024:.1f} GB, "
                          f"{available_mb() / 1024:.1f} GB free)")
                    continue
                for rule in rules if method in ("ours", "dense") else [{}]:
                    name = ",".join(f"{k}={v}" for k, v in rule.items()) or "default"
                    out = scratch / f"bench_cluster_{n}_{family}_{method}_{name}.npy"
                    cmd = [sys.executable, __file__, "--worker", str(path), method,
                           json.dumps(rule), "--labels-out", str(out),
                           *(["--torch-products"] if args.torch_products else [])]
                    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
                    label = f"{case:>6} N={n:>6} {family:>5} {method:>11} {name:>10}"
                    if proc.returncode != 0:
                        print(f"{label}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}")
                        continue
                    print(_line(label, json.loads(proc.stdout.strip().splitlines()[-1])),
                          flush=True)
                    saved[method, name] = out
            for (method, name), out in saved.items():
                if method == "dense" and ("ours", name) in saved:
                    same = np.array_equal(np.load(saved["ours", name]), np.load(out))
                    print(f"{case:>6} {family} {name}: labels identical to the dense reference: "
                          f"{same}")
            path.unlink()


if __name__ == "__main__":
    main()
