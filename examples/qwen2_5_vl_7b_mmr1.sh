#!/usr/bin/env bash
# The MM-UPT reference run on one node of 8 GPUs: Qwen2.5-VL-7B trained on MMR1 without labels
# (recipe qwen2_5_vl_7b_mmr1: majority-vote reward, GRPO, G=10, 512 prompts per step).
#
#   MODEL_DIR=/models/Qwen2.5-VL-7B-Instruct DATA=/data/MMR1/train.parquet bash examples/qwen2_5_vl_7b_mmr1.sh
#
# Settings (environment variables; default in brackets):
#   MODEL_DIR   [/models/Qwen2.5-VL-7B-Instruct]  Hugging Face folder: config.json, safetensors, tokenizer
#   DATA        [/data/MMR1/train.parquet]        training data: parquet/jsonl/arrow file, folder or glob
#   OUTPUT_DIR  [runs/qwen2_5_vl_7b_mmr1]         run directory: config.json, metrics.jsonl, checkpoints/
#   NUM_GPUS    [8]                               GPUs of this node; the run is sized to them by the planner
#   RESUME      [0]                               1: continue the run in OUTPUT_DIR from its last checkpoint
#   MMUPT       [megatron-mmupt]                  the project's command (e.g. "python -m megatron_mmupt.cli")
#   DRY_RUN     [0]                               1: print the plan and the command, start nothing
# Arguments are config overrides, e.g. trainer.num_steps=10 logging.wandb.mode=online
#
# The dry-run planner checks the config for this node first (layout, memory per GPU; docs/deploy.md);
# the run starts only if it fits.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

MODEL_DIR=${MODEL_DIR:-/models/Qwen2.5-VL-7B-Instruct}
DATA=${DATA:-/data/MMR1/train.parquet}
OUTPUT_DIR=${OUTPUT_DIR:-runs/qwen2_5_vl_7b_mmr1}
NUM_GPUS=${NUM_GPUS:-8}
RESUME=${RESUME:-0}
MMUPT=${MMUPT:-megatron-mmupt}
RECIPE=qwen2_5_vl_7b_mmr1

require_model_dir MODEL_DIR "$MODEL_DIR"
require_data DATA "$DATA"
require_int NUM_GPUS "$NUM_GPUS"
require_one_of RESUME "$RESUME" 0 1
mmupt_command "$MMUPT"
[[ "${DRY_RUN:-0}" == 1 ]] || require_gpus "$NUM_GPUS"

overrides=(
  "actor.model=$MODEL_DIR" "data.processor=$MODEL_DIR" "data.source.path=$DATA" "output_dir=$OUTPUT_DIR" "$@"
)
sizing_line=$(plan_overrides 1 "$NUM_GPUS" "$RECIPE" "${overrides[@]}")
read -r -a sizing <<<"$sizing_line"
resume=()
[[ "$RESUME" == 1 ]] && resume=(--resume)
log "training $RECIPE on $NUM_GPUS GPUs into $OUTPUT_DIR"
run "${MMUPT_CMD[@]}" train --recipe "$RECIPE" "${resume[@]}" "${overrides[@]}" "${sizing[@]}"
