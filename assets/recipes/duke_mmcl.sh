#!/usr/bin/env bash
# GCL paper recipe (reidkit recipes --show duke_mmcl); header read by `reidkit recipes`.
# table: 1
# row: DukeMTMC-reID, fully unsupervised, GCL (MMCL*)
# published-baseline: 40.9/64.8
# published-gcl: 49.3/69.7
set -euo pipefail
RECIPE_DATASET=duke
RECIPE_BASELINE=mmcl
RECIPE_SOURCE=
RECIPE_RHO=2e-3
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
