#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show msmt_cc); header read by `reidkit recipes`.
# table: extension
# row: MSMT17, fully unsupervised, GCL (Cluster-Contrast, DBSCAN)
# published-baseline: 27.6/56.0
# published-gcl: -
# note: beyond the paper; baseline numbers are Cluster-Contrast's (ResNet-50, DBSCAN, the authors' README), GCL on Cluster-Contrast is unpublished
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=cc
RECIPE_SOURCE=
RECIPE_RHO=1.2e-3
# the authors' MSMT17 command: 400 iterations per epoch (200 on Market and Duke, the default)
RECIPE_WARMUP_ARGS="--iters 400"
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
