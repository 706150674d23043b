#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market2duke_abmt); header read by `reidkit recipes`.
# table: extension
# row: UDA Market-1501 -> DukeMTMC-reID, GCL (ABMT)
# published-baseline: 69.1/82.0
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ABMT's (H. Chen thesis Tab 4.1, ResNet-50), GCL on ABMT is unpublished
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=abmt
RECIPE_SOURCE=market
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
