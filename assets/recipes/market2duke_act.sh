#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market2duke_act); header read by `reidkit recipes`.
# table: 1
# row: UDA Market-1501 -> DukeMTMC-reID, GCL (ACT)
# published-baseline: 51.5/70.9
# published-gcl: 55.4/71.9
# note: baseline = GCL's ACT* re-run (Table 1); ACT's own figures (AAAI'20 repo) are 54.5/72.4; ACT starts from UDAP-adapted weights, reidkit's from a plain supervised source model (expect lower)
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=act
RECIPE_SOURCE=market
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
