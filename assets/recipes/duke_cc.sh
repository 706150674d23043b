#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke_cc); header read by `reidkit recipes`.
# table: extension
# row: DukeMTMC-reID, fully unsupervised, GCL (Cluster-Contrast, DBSCAN)
# published-baseline: 72.6/84.9
# published-gcl: -
# note: beyond the paper; baseline numbers are Cluster-Contrast's (ResNet-50, DBSCAN, the authors' README), GCL on Cluster-Contrast is unpublished
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=cc
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
