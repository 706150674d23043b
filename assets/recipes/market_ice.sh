#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market_ice); header read by `reidkit recipes`.
# table: extension
# row: Market-1501, fully unsupervised, GCL (ICE, camera-aware)
# published-baseline: 82.3/93.8
# published-gcl: -
# note: beyond the paper; baseline numbers are the ICE paper's (ICCV 2021), GCL on ICE is unpublished
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=ice
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
