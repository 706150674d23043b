#!/usr/bin/env bash
# Shared body of the GCL paper recipes (sourced by every row script; not a recipe itself).
# A row script sets RECIPE_DATASET, RECIPE_BASELINE, RECIPE_RHO and, for UDA, RECIPE_SOURCE
# (optionally RECIPE_PRESET; RECIPE_WARMUP_ARGS, warm-up options of the row that differ from the
# baseline's defaults, before the user's --warmup-args), sources this file and calls
# `recipe_main "$@"`; what a warm-up method needs in every row is set here (recipe_method). The
# sequence:
# mesh (train + test) -> warmup -> gen-warmup (40 epochs) -> train-joint (20 epochs) -> eval of
# warmup.pt and train-joint.pt.
# Each stage writes <out>/<stage>.json only when it finished; a stage whose JSON exists is skipped,
# the others resume from their checkpoints.
set -euo pipefail

RECIPE_SOURCE="${RECIPE_SOURCE:-}"
# Generalisation rows (DomainMix) set RECIPE_TEST_DATASET: the sequence is then warmup (labelled
# source + unlabelled --data-root) -> eval on --test-root, a third dataset neither of them; no
# mesh, no GAN stages, RECIPE_RHO unused.
RECIPE_TEST_DATASET="${RECIPE_TEST_DATASET:-}"
RECIPE_WARMUP_ARGS="${RECIPE_WARMUP_ARGS:-}"

# What the row's warm-up method needs in every row, once for all its rows: train-joint's
# --baseline (RECIPE_JOINT_BASELINE) and warm-up options before the row's own.
recipe_method() {
    RECIPE_JOINT_BASELINE="$RECIPE_BASELINE"
    case "$RECIPE_BASELINE" in
        # train-joint takes the warm-up's recorded method (its --baseline does not list cc, abmt)
        cc | abmt) RECIPE_JOINT_BASELINE="" ;;
        # the supervised rows train SCR: its network and input size (the supervised baseline's
        # defaults; the sequence passes --arch resnet50 first, so they are named here); the rest
        # (500 epochs, 8x4, Adam AMSGrad 2e-4 with steps at 300 and 400, flip only) are the
        # defaults too
        supervised) RECIPE_WARMUP_ARGS="--arch scr --size 384x192 $RECIPE_WARMUP_ARGS" ;;
    esac
}
recipe_method
# Preset of gen-warmup and train-joint (docs/joint-training.md, "Presets"). The recipes exist to
# reproduce the published rows, and the paper's Table 1-2 numbers were produced by the authors'
# code (chenhao2345/GCL), not by the paper's text where the two differ (L'_vi's positive, L_feat,
# the 45..270 view draw, G/D's constant lr and carried Adam moments). So every row, the ICE
# extension rows included (to keep their gain comparable), runs `reference` by default;
# `--preset paper` runs the method as the paper writes it (reidkit's own default).
RECIPE_PRESET="${RECIPE_PRESET:-reference}"
REIDKIT="${REIDKIT:-reidkit}"
RECIPE_NAME="${RECIPE_NAME:-$0}"
GEN_WARMUP_EPOCHS=40
TRAIN_JOINT_EPOCHS=20

recipe_usage_generalise() {
    cat <<EOF
usage: bash $RECIPE_NAME --source-root DIR --data-root DIR --test-root DIR --pretrained FILE
           --out DIR [options]

Generalisation recipe: labelled $RECIPE_SOURCE source + unlabelled $RECIPE_DATASET, warm-up $RECIPE_BASELINE, tested on unseen $RECIPE_TEST_DATASET.
Runs: reidkit warmup -> eval on the test set (single query, no re-ranking).

required:
  --source-root DIR       labelled synthetic source ($RECIPE_SOURCE layout, e.g. RandPerson)
  --data-root DIR         unlabelled real dataset ($RECIPE_DATASET layout)
  --test-root DIR         unseen test dataset ($RECIPE_TEST_DATASET layout)
  --pretrained FILE       ImageNet ResNet-50 weights (.pth), or 'auto' (torch hub cache)
  --out DIR               run folder (checkpoint, <stage>.json results)
options:
  --device DEV            auto (default), cpu, cuda or cuda:N
  --warmup-args STR       extra options for 'reidkit warmup' (likewise --eval-args)
  --dry-run               print the commands without running them
  -h, --help              this help
EOF
}

recipe_usage() {
    if [[ -n "$RECIPE_TEST_DATASET" ]]; then
        recipe_usage_generalise
        return
    fi
    local uda_line="" uda_opt=""
    if [[ -n "$RECIPE_SOURCE" ]]; then
        uda_opt=" --source-root DIR"
        uda_line="  --source-root DIR       labelled source dataset ($RECIPE_SOURCE layout), UDA warm-up only
"
    fi
    cat <<EOF
usage: bash $RECIPE_NAME --data-root DIR$uda_opt --smpl-model PATH --hmr-checkpoint FILE
           --pretrained FILE --out DIR [options]

GCL recipe: dataset $RECIPE_DATASET, warm-up $RECIPE_BASELINE${RECIPE_SOURCE:+ (UDA from $RECIPE_SOURCE)}, rho $RECIPE_RHO, preset $RECIPE_PRESET.
Runs: reidkit mesh -> warmup -> gen-warmup ($GEN_WARMUP_EPOCHS epochs) -> train-joint ($TRAIN_JOINT_EPOCHS epochs) -> eval (warm-up, joint).

required:
  --data-root DIR         target dataset ($RECIPE_DATASET layout)
$uda_line  --smpl-model PATH       SMPL model file/folder (SMPL_NEUTRAL.pkl), or 'procedural'
  --hmr-checkpoint FILE   SPIN's model_checkpoint.pt (HMR weights)
  --pretrained FILE       ImageNet ResNet-50 weights (.pth), or 'auto' (torch hub cache)
  --out DIR               run folder (checkpoints, <stage>.json results)
options:
  --smpl-mean-params FILE SPIN's smpl_mean_params.npz (only if the checkpoint lacks the means)
  --mesh-root DIR         renders (default: <out>/mesh; share it between runs on one dataset)
  --device DEV            auto (default), cpu, cuda or cuda:N
  --preset NAME           gen-warmup/train-joint preset: reference (default here: the authors'
                          code, which produced the published numbers) or paper (the paper's text)
  --mesh-args STR         extra options for 'reidkit mesh' (likewise --warmup-args,
                          --gen-warmup-args, --train-joint-args, --eval-args)
  --dry-run               print the commands without running them
  -h, --help              this help
EOF
}

recipe_die() {
    echo "error: $*" >&2
    echo "run 'bash $RECIPE_NAME --help' for the arguments" >&2
    exit 2
}

recipe_log() {
    local name="${RECIPE_NAME##*/}"
    echo "[recipe ${name%.sh}] $*" >&2
}

# Parse the arguments into the R_* variables.
recipe_parse() {
    R_DATA_ROOT="" R_SOURCE_ROOT="" R_TEST_ROOT="" R_SMPL_MODEL="" R_HMR="" R_MEAN_PARAMS="" R_PRETRAINED=""
    R_OUT="" R_MESH_ROOT="" R_DEVICE="auto" R_PRESET="$RECIPE_PRESET" R_DRY_RUN=0
    R_MESH_ARGS="" R_WARMUP_ARGS="" R_GEN_ARGS="" R_JOINT_ARGS="" R_EVAL_ARGS=""
    while (($#)); do
        case "$1" in
            -h | --help) recipe_usage; exit 0 ;;
            --dry-run) R_DRY_RUN=1; shift; continue ;;
        esac
        (($# >= 2)) || recipe_die "option $1 needs a value"
        case "$1" in
            --data-root) R_DATA_ROOT="$2" ;;
            --source-root) R_SOURCE_ROOT="$2" ;;
            --test-root) R_TEST_ROOT="$2" ;;
            --smpl-model) R_SMPL_MODEL="$2" ;;
            --hmr-checkpoint) R_HMR="$2" ;;
            --smpl-mean-params) R_MEAN_PARAMS="$2" ;;
            --pretrained) R_PRETRAINED="$2" ;;
            --out) R_OUT="$2" ;;
            --mesh-root) R_MESH_ROOT="$2" ;;
            --device) R_DEVICE="$2" ;;
            --preset) R_PRESET="$2" ;;
            --mesh-args) R_MESH_ARGS="$2" ;;
            --warmup-args) R_WARMUP_ARGS="$2" ;;
            --gen-warmup-args) R_GEN_ARGS="$2" ;;
            --train-joint-args) R_JOINT_ARGS="$2" ;;
            --eval-args) R_EVAL_ARGS="$2" ;;
            *) recipe_die "unknown option $1" ;;
        esac
        shift 2
    done
    R_MESH_ROOT="${R_MESH_ROOT:-${R_OUT:+$R_OUT/mesh}}"
}

# Every missing argument or file is reported (all at once) before anything runs.
recipe_check() {
    local problems=()
    [[ -n "$R_DATA_ROOT" ]] || problems+=("missing --data-root (the $RECIPE_DATASET dataset folder)")
    [[ -z "$R_DATA_ROOT" || -d "$R_DATA_ROOT" ]] \
        || problems+=("--data-root: no such folder: $R_DATA_ROOT")
    if [[ -n "$RECIPE_SOURCE" ]]; then
        [[ -n "$R_SOURCE_ROOT" ]] \
            || problems+=("missing --source-root (the labelled $RECIPE_SOURCE dataset folder)")
        [[ -z "$R_SOURCE_ROOT" || -d "$R_SOURCE_ROOT" ]] \
            || problems+=("--source-root: no such folder: $R_SOURCE_ROOT")
    elif [[ -n "$R_SOURCE_ROOT" ]]; then
        problems+=("--source-root given, but this recipe is fully unsupervised (use a UDA recipe)")
    fi
    if [[ -n "$RECIPE_TEST_DATASET" ]]; then
        [[ -n "$R_TEST_ROOT" ]] \
            || problems+=("missing --test-root (the unseen $RECIPE_TEST_DATASET dataset folder)")
        [[ -z "$R_TEST_ROOT" || -d "$R_TEST_ROOT" ]] \
            || problems+=("--test-root: no such folder: $R_TEST_ROOT")
    else
        [[ -z "$R_TEST_ROOT" ]] \
            || problems+=("--test-root given, but this recipe tests on --data-root's test split")
        [[ -n "$R_SMPL_MODEL" ]] \
            || problems+=("missing --smpl-model (SMPL_NEUTRAL.pkl or 'procedural')")
        [[ -z "$R_SMPL_MODEL" || "$R_SMPL_MODEL" == procedural || -e "$R_SMPL_MODEL" ]] \
            || problems+=("--smpl-model: no such file: $R_SMPL_MODEL")
        [[ -n "$R_HMR" ]] || problems+=("missing --hmr-checkpoint (SPIN's model_checkpoint.pt)")
        [[ -z "$R_HMR" || -f "$R_HMR" ]] || problems+=("--hmr-checkpoint: no such file: $R_HMR")
        [[ -z "$R_MEAN_PARAMS" || -f "$R_MEAN_PARAMS" ]] \
            || problems+=("--smpl-mean-params: no such file: $R_MEAN_PARAMS")
    fi
    [[ -n "$R_PRETRAINED" ]] || problems+=("missing --pretrained (ImageNet ResNet-50 .pth, or 'auto')")
    [[ -z "$R_PRETRAINED" || "$R_PRETRAINED" == auto || -f "$R_PRETRAINED" ]] \
        || problems+=("--pretrained: no such file: $R_PRETRAINED")
    [[ "$R_PRESET" == paper || "$R_PRESET" == reference ]] \
        || problems+=("--preset: must be paper or reference, got '$R_PRESET'")
    [[ -n "$R_OUT" ]] || problems+=("missing --out (the run folder to write)")
    [[ -z "$R_OUT" || ! -e "$R_OUT" || -d "$R_OUT" ]] \
        || problems+=("--out: exists and is not a folder: $R_OUT")
    command -v "$REIDKIT" >/dev/null 2>&1 \
        || problems+=("'$REIDKIT' not found on PATH (pip install reidkit, or activate its venv)")
    if ((${#problems[@]})); then
        local p
        for p in "${problems[@]}"; do echo "error: $p" >&2; done
        echo "run 'bash $RECIPE_NAME --help' for the arguments" >&2
        exit 2
    fi
}

# recipe_stage NAME JSON_FILE ARGS...: run `reidkit ARGS... --json` unless JSON_FILE exists; the
# result is written to JSON_FILE only when the command succeeded.
recipe_stage() {
    local name="$1" result="$2"
    shift 2
    if [[ -s "$result" ]]; then
        recipe_log "$name: done already ($result), skipped"
        return 0
    fi
    if ((R_DRY_RUN)); then
        printf '%q ' "$REIDKIT" "$@" --json
        printf '> %q\n' "$result"
        return 0
    fi
    recipe_log "$name: $REIDKIT $*"
    if ! "$REIDKIT" "$@" --json >"$result.part"; then
        rm -f "$result.part"
        recipe_log "$name failed (see above); re-run the same command to resume"
        exit 1
    fi
    mv -f "$result.part" "$result"
}

recipe_main() {
    recipe_parse "$@"
    recipe_check
    local out="$R_OUT" dataset="$RECIPE_DATASET"
    local mesh_extra=() warmup_extra=() gen_extra=() joint_extra=() eval_extra=()
    read -r -a mesh_extra <<<"$R_MESH_ARGS" || true
    read -r -a warmup_extra <<<"$RECIPE_WARMUP_ARGS $R_WARMUP_ARGS" || true
    read -r -a gen_extra <<<"$R_GEN_ARGS" || true
    read -r -a joint_extra <<<"$R_JOINT_ARGS" || true
    read -r -a eval_extra <<<"$R_EVAL_ARGS" || true
    ((R_DRY_RUN)) || mkdir -p "$out"
    local uda=()
    [[ -z "$RECIPE_SOURCE" ]] || uda=(--source "$RECIPE_SOURCE" --source-root "$R_SOURCE_ROOT")
    if [[ -n "$RECIPE_TEST_DATASET" ]]; then
        recipe_generalise
        return
    fi

    local mesh_opts=(--smpl-model "$R_SMPL_MODEL" --hmr-checkpoint "$R_HMR")
    [[ -z "$R_MEAN_PARAMS" ]] || mesh_opts+=(--smpl-mean-params "$R_MEAN_PARAMS")
    recipe_stage mesh "$out/mesh.json" mesh --dataset "$dataset" --data-root "$R_DATA_ROOT" \
        --out "$R_MESH_ROOT" "${mesh_opts[@]}" --splits train,test --device "$R_DEVICE" \
        ${mesh_extra[@]+"${mesh_extra[@]}"}

    recipe_stage warmup "$out/warmup.json" warmup --dataset "$dataset" \
        --data-root "$R_DATA_ROOT" --baseline "$RECIPE_BASELINE" --out "$out" --arch resnet50 \
        --pretrained "$R_PRETRAINED" ${uda[@]+"${uda[@]}"} --device "$R_DEVICE" --resume \
        ${warmup_extra[@]+"${warmup_extra[@]}"}

    local gen_resume=()
    [[ ! -f "$out/gen-warmup.pt" ]] || gen_resume=(--resume)
    recipe_stage gen-warmup "$out/gen-warmup.json" gen-warmup --run "$out" \
        --mesh-root "$R_MESH_ROOT" --epochs "$GEN_WARMUP_EPOCHS" --preset "$R_PRESET" \
        --device "$R_DEVICE" ${gen_resume[@]+"${gen_resume[@]}"} ${gen_extra[@]+"${gen_extra[@]}"}

    local joint_baseline=()
    [[ -z "$RECIPE_JOINT_BASELINE" ]] || joint_baseline=(--baseline "$RECIPE_JOINT_BASELINE")
    recipe_stage train-joint "$out/train-joint.json" train-joint --run "$out" \
        ${joint_baseline[@]+"${joint_baseline[@]}"} --epochs "$TRAIN_JOINT_EPOCHS" \
        --rho "$RECIPE_RHO" --preset "$R_PRESET" --device "$R_DEVICE" --resume \
        ${joint_extra[@]+"${joint_extra[@]}"}

    local protocol=()
    [[ "$RECIPE_BASELINE" != "jvtc+" ]] || protocol=(--temporal)
    local stage
    for stage in warmup joint; do
        local ckpt="$out/warmup.pt"
        [[ "$stage" == warmup ]] || ckpt="$out/train-joint.pt"
        recipe_stage "eval ($stage)" "$out/eval-$stage.json" eval --dataset "$dataset" \
            --data-root "$R_DATA_ROOT" --checkpoint "$ckpt" ${protocol[@]+"${protocol[@]}"} \
            --device "$R_DEVICE" ${eval_extra[@]+"${eval_extra[@]}"}
    done
    ((R_DRY_RUN)) || recipe_log "finished: results in $out/eval-warmup.json (baseline) and" \
        "$out/eval-joint.json (GCL)"
}

# The generalisation sequence (called by recipe_main, with its locals): warmup, then eval on the
# unseen test set.
recipe_generalise() {
    recipe_stage warmup "$out/warmup.json" warmup --dataset "$dataset" \
        --data-root "$R_DATA_ROOT" --baseline "$RECIPE_BASELINE" --out "$out" --arch resnet50 \
        --pretrained "$R_PRETRAINED" "${uda[@]}" --device "$R_DEVICE" --resume \
        ${warmup_extra[@]+"${warmup_extra[@]}"}
    recipe_stage "eval ($RECIPE_TEST_DATASET)" "$out/eval-warmup.json" eval \
        --dataset "$RECIPE_TEST_DATASET" --data-root "$R_TEST_ROOT" --checkpoint "$out/warmup.pt" \
        --device "$R_DEVICE" ${eval_extra[@]+"${eval_extra[@]}"}
    ((R_DRY_RUN)) || recipe_log "finished: results on $RECIPE_TEST_DATASET in $out/eval-warmup.json"
}
