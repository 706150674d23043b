#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show msmt2duke_act); header read by `reidkit recipes`.
# table: extension
# row: UDA MSMT17 -> DukeMTMC-reID, GCL (ACT)
# published-baseline: 57.9/76.0
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ACT's repo figures, GCL on them is unpublished; ACT starts from UDAP-adapted weights, reidkit's from a plain supervised source model (expect lower)
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=act
RECIPE_SOURCE=msmt
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
