#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show msmt_jvtcplus); header read by `reidkit recipes`.
# table: 2
# row: MSMT17, fully unsupervised, GCL (JVTC+*)
# published-baseline: 16.3/40.4
# published-gcl: 21.3/45.7
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=jvtc+
RECIPE_SOURCE=
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
