#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show msmt_ice); header read by `reidkit recipes`.
# table: extension
# row: MSMT17, fully unsupervised, GCL (ICE, camera-aware)
# published-baseline: 38.9/70.2
# published-gcl: -
# note: beyond the paper; baseline numbers are the ICE paper's (ICCV 2021), GCL on ICE is unpublished
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=ice
RECIPE_SOURCE=
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
