#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke_jvtc); header read by `reidkit recipes`.
# table: 1
# row: DukeMTMC-reID, fully unsupervised, GCL (JVTC*)
# published-baseline: 43.9/66.8
# published-gcl: 53.3/72.4
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=jvtc
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
