#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show msmt_jvtc); header read by `reidkit recipes`.
# table: 2
# row: MSMT17, fully unsupervised, GCL (JVTC*)
# published-baseline: 13.4/36.0
# published-gcl: 18.0/41.6
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=jvtc
RECIPE_SOURCE=
RECIPE_RHO=1.2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
