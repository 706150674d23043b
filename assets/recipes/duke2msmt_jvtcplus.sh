#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke2msmt_jvtcplus); header read by `reidkit recipes`.
# table: 2
# row: UDA DukeMTMC-reID -> MSMT17, GCL (JVTC+*)
# published-baseline: 23.6/49.4
# published-gcl: 29.7/54.4
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=duke
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
