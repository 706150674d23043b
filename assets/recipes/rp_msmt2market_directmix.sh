#!/usr/bin/env bash
# DomainMix paper recipe (reidkit recipes --show rp_msmt2market_directmix); header read by `reidkit recipes`.
# table: domainmix
# row: RandPerson + MSMT17 (unlabelled) -> Market-1501, DirectMix (R50)
# published-baseline: 41.0/70.2
# published-gcl: -
# note: RandPerson as --source folder (pid = the names' leading integer); the paper's stage 1 (SpCL) is stood in for by the source phase (expect lower); tested directly on the third set; DirectMix = --domain-loss none
set -euo pipefail
RECIPE_DATASET=msmt
RECIPE_BASELINE=domainmix
RECIPE_SOURCE=folder
RECIPE_TEST_DATASET=market
RECIPE_WARMUP_ARGS="--domain-loss none"
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
recipe_main "$@"
