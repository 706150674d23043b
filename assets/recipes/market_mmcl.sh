#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market_mmcl); header read by `reidkit recipes`.
# table: 1
# row: Market-1501, fully unsupervised, GCL (MMCL*)
# published-baseline: 45.1/79.5
# published-gcl: 54.9/83.7
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=mmcl
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
