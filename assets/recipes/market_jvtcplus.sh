#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market_jvtcplus); header read by `reidkit recipes`.
# table: 1
# row: Market-1501, fully unsupervised, GCL (JVTC+*)
# published-baseline: 50.9/79.1
# published-gcl: 66.8/87.3
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
