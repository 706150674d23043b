#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke_jvtcplus); header read by `reidkit recipes`.
# table: 1
# row: DukeMTMC-reID, fully unsupervised, GCL (JVTC+*)
# published-baseline: 52.8/74.9
# published-gcl: 62.8/82.9
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
