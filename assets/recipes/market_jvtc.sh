#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market_jvtc); header read by `reidkit recipes`.
# table: 1
# row: Market-1501, fully unsupervised, GCL (JVTC*)
# published-baseline: 47.2/75.4
# published-gcl: 63.4/83.7
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=jvtc
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
