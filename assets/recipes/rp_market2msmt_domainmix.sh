#!/usr/bin/env bash
# DomainMix paper recipe (reidkit recipes --show rp_market2msmt_domainmix); header read by `reidkit recipes`.
# table: domainmix
# row: RandPerson + Market-1501 (unlabelled) -> MSMT17, DomainMix (R50)
# published-baseline: 11.9/31.9
# published-gcl: -
# note: RandPerson as --source folder (pid = the names' leading integer); the paper's stage 1 (SpCL) is stood in for by the source phase (expect lower); tested directly on the third set
set -euo pipefail
RECIPE_DATASET=market
RECIPE_BASELINE=domainmix
RECIPE_SOURCE=folder
RECIPE_TEST_DATASET=msmt
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
