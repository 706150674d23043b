#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market2msmt_act); header read by `reidkit recipes`.
# table: extension
# row: UDA Market-1501 -> MSMT17, GCL (ACT)
# published-baseline: 10.6/26.0
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ACT's repo figures, GCL on them is unpublished; ACT starts from UDAP-adapted weights, reidkit's from a plain supervised source model (expect lower)
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=act
RECIPE_SOURCE=market
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
