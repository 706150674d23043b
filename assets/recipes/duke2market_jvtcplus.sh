#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke2market_jvtcplus); header read by `reidkit recipes`.
# table: 1
# row: UDA DukeMTMC-reID -> Market-1501, GCL (JVTC+*)
# published-baseline: 67.6/87.0
# published-gcl: 75.4/90.5
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=duke
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
