"""Time `evaluate_rank` against the per-query NumPy loop (torchreid `eval_market1501` style) on a
Market-sized problem: 3,368 queries × 15,913 gallery, 750 identities over 6 cameras plus 2,793
distractors (pid 0), features = identity centre + camera shift + noise.

Run: `python benchmarks/bench_eval.py [--threads N]`. Prints both times, the ratio and the
largest difference between the two results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reidkit.evaluation.rank import evaluate_rank

NUM_QUERY, NUM_GALLERY, NUM_IDS, NUM_CAMS, NUM_DISTRACTORS, DIM = 3368, 15913, 750, 6, 2793, 128


def market_like(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Query/gallery pids, cameras and a float64 distance matrix with Market's id/camera mix."""
    rng = np.random.default_rng(seed)
    # as in Market, one query per (identity, camera) pair: 2..6 cameras per identity, 3,368 pairs
    counts = rng.integers(2, NUM_CAMS + 1, NUM_IDS)
    while counts.sum() != NUM_QUERY:
        pid = rng.integers(NUM_IDS)
        step = 1 if counts.sum() < NUM_QUERY else -1
        if 2 <= counts[pid] + step <= NUM_CAMS:
            counts[pid] += step
    pairs = np.array([(pid, cam) for pid in range(NUM_IDS)
                      for cam in rng.choice(NUM_CAMS, counts[pid], replace=False)])
    query = pairs
    # every (id, camera) pair gets one gallery image, the rest are spread at random
    extra = NUM_GALLERY - NUM_DISTRACTORS - len(pairs)
    gallery = np.concatenate([pairs, pairs[rng.integers(0, len(pairs), extra)]])
    distractors = np.stack([np.full(NUM_DISTRACTORS, -1), rng.integers(0, NUM_CAMS,
                                                                      NUM_DISTRACTORS)], 1)
    gallery = np.concatenate([gallery, distractors])
    centres = rng.normal(size=(NUM_IDS + 1, DIM))
    shifts = rng.normal(scale=0.6, size=(NUM_CAMS, DIM))

    def features(items: np.ndarray) -> np.ndarray:
        f = centres[items[:, 0]] + shifts[items[:, 1]] + rng.normal(scale=1.0, size=(len(items),
                                                                                     DIM))
        f[items[:, 0] < 0] = rng.normal(scale=1.5, size=((items[:, 0] < 0).sum(), DIM))
        return f / np.linalg.norm(f, axis=1, keepdims=True)

    qf, gf = features(query), features(gallery)
    distmat = np.clip(2 - 2 * qf @ gf.T, 0, None)
    g_pids = gallery[:, 0] + 1  # identities 1..750, distractors 0
    return distmat, query[:, 0] + 1, g_pids, query[:, 1], gallery[:, 1]


def loop_eval(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """The reference protocol: argsort every row, then one Python iteration per query."""
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1)
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_ap, all_inp = [], [], []
    for q_idx in range(num_q):
        order = indices[q_idx]
        remove = (g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])
        raw_cmc = matches[q_idx][np.invert(remove)]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        last = np.where(raw_cmc == 1)[0].max()
        all_inp.append(cmc[last] / (last + 1.0))
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        tmp_cmc = raw_cmc.cumsum() / (np.arange(len(raw_cmc)) + 1.0)
        all_ap.append((tmp_cmc * raw_cmc).sum() / raw_cmc.sum())
    return np.asarray(all_cmc).mean(0), float(np.mean(all_ap)), float(np.mean(all_inp)), len(all_ap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    distmat, q_pids, g_pids, q_cams, g_cams = market_like()
    print(f"problem: {distmat.shape[0]} queries x {distmat.shape[1]} gallery, "
          f"{len(set(g_pids.tolist())) - 1} ids + {int((g_pids == 0).sum())} distractors, "
          f"{NUM_CAMS} cameras; torch threads {torch.get_num_threads()}")

    wall, cpu = time.perf_counter(), time.process_time()
    ref_cmc, ref_map, ref_minp, ref_valid = loop_eval(distmat, q_pids, g_pids, q_cams, g_cams)
    loop_s, loop_cpu = time.perf_counter() - wall, time.process_time() - cpu

    dist_t = torch.from_numpy(distmat)
    evaluate_rank(dist_t[:64], q_pids[:64], g_pids, q_cams[:64], g_cams)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    ours = evaluate_rank(dist_t, q_pids, g_pids, q_cams, g_cams)
    ours_s, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu

    diff = max(abs(ours.mAP - ref_map), abs(ours.mINP - ref_minp),
               float(np.abs(ours.cmc - ref_cmc).max()))
    same = diff < 1e-6 and ours.valid_queries == ref_valid
    for label, wall_s, cpu_s, (m_ap, r1, m_inp, valid) in (
        ("numpy per-query loop ", loop_s, loop_cpu, (ref_map, ref_cmc[0], ref_minp, ref_valid)),
        ("reidkit evaluate_rank", ours_s, ours_cpu,
         (ours.mAP, ours.cmc[0], ours.mINP, ours.valid_queries)),
    ):
        print(f"{label}: {wall_s:8.3f} s wall {cpu_s:8.3f} s CPU  mAP {m_ap:.6f} R1 {r1:.6f} "
              f"mINP {m_inp:.6f} valid {valid}")
    print(f"speed-up {loop_s / ours_s:.1f}x wall, {loop_cpu / ours_cpu:.1f}x CPU; "
          f"largest difference {diff:.2e} ({'same numbers' if same else 'DIFFER'})")

if __name__ == "__main__":
    main()
