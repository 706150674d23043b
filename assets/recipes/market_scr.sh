#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market_scr); header read by `reidkit recipes`.
# table: extension
# row: Market-1501, supervised (true training ids), SCR at 384x192, then GCL
# published-baseline: 89.0/95.7
# published-gcl: -
# note: beyond the paper; baseline numbers are SCR's own (H. Chen thesis Table 3.6, WACV 2020: ResNet-50, 384x192), a supervised upper bound, not an unsupervised warm-up; GCL on it is unpublished
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=supervised
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
