#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke2market_abmt); header read by `reidkit recipes`.
# table: extension
# row: UDA DukeMTMC-reID -> Market-1501, GCL (ABMT)
# published-baseline: 78.3/92.5
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ABMT's (H. Chen thesis Tab 4.1, ResNet-50), GCL on ABMT is unpublished
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=abmt
RECIPE_SOURCE=duke
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
