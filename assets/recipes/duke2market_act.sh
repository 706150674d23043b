#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke2market_act); header read by `reidkit recipes`.
# table: 1
# row: UDA DukeMTMC-reID -> Market-1501, GCL (ACT)
# published-baseline: 59.1/78.8
# published-gcl: 66.7/83.9
# note: baseline = GCL's ACT* re-run (Table 1); ACT's own figures (AAAI'20 repo) are 60.6/80.5; ACT starts from UDAP-adapted weights, reidkit's from a plain supervised source model (expect lower)
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=act
RECIPE_SOURCE=duke
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
