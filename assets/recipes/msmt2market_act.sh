#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show msmt2market_act); header read by `reidkit recipes`.
# table: extension
# row: UDA MSMT17 -> Market-1501, GCL (ACT)
# published-baseline: 69.5/85.7
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ACT's repo figures, GCL on them is unpublished; ACT starts from UDAP-adapted weights, reidkit's from a plain supervised source model (expect lower)
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=act
RECIPE_SOURCE=msmt
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
