#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market2duke_jvtcplus); header read by `reidkit recipes`.
# table: 1
# row: UDA Market-1501 -> DukeMTMC-reID, GCL (JVTC+*)
# published-baseline: 66.7/81.0
# published-gcl: 67.6/81.9
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=market
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
