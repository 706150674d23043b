#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market_cc); header read by `reidkit recipes`.
# table: extension
# row: Market-1501, fully unsupervised, GCL (Cluster-Contrast, DBSCAN)
# published-baseline: 82.1/92.3
# published-gcl: -
# note: beyond the paper; baseline numbers are Cluster-Contrast's (ResNet-50, DBSCAN, the authors' README), GCL on Cluster-Contrast is unpublished
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=cc
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
