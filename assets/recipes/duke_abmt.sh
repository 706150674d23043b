#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke_abmt); header read by `reidkit recipes`.
# table: extension
# row: DukeMTMC-reID, fully unsupervised, GCL (ABMT)
# published-baseline: 63.1/77.7
# published-gcl: -
# note: beyond the GCL paper; baseline numbers are ABMT's (H. Chen thesis Tab 4.2, ResNet-50), GCL on ABMT is unpublished
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=abmt
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
