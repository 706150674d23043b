#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market2msmt_jvtcplus); header read by `reidkit recipes`.
# table: 2
# row: UDA Market-1501 -> MSMT17, GCL (JVTC+*)
# published-baseline: 20.5/44.0
# published-gcl: 27.0/51.1
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=market
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
