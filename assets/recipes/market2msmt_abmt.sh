#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show market2msmt_abmt); header read by `reidkit recipes`.
# table: extension
# row: UDA Market-1501 -> MSMT17, GCL (ABMT)
# published-baseline: 23.2/49.2
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ABMT's (H. Chen thesis Tab 4.1, ResNet-50), GCL on ABMT is unpublished
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=abmt
RECIPE_SOURCE=market
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
