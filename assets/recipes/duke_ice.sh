#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke_ice); header read by `reidkit recipes`.
# table: extension
# row: DukeMTMC-reID, fully unsupervised, GCL (ICE, camera-aware)
# published-baseline: 69.9/83.3
# published-gcl: -
# note: beyond the paper; baseline numbers are the ICE paper's (ICCV 2021), GCL on ICE is unpublished
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=ice
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
