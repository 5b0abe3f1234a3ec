#!/usr/bin/env bash
# Submit a training run once to a running Ray cluster (examples/ray/start_node.sh); its driver runs in the head's
# container and Ray places the actor's ranks and the rollout engines on every node.
#
#   HEAD_ADDR=10.0.0.1 NODES=16 bash examples/ray/submit.sh trainer.num_steps=60
#
# Settings (environment variables; default in brackets):
#   HEAD_ADDR       []                                 the head node's address (required)
#   DASHBOARD_PORT  [8265]                             the head's job-submission port
#   NODES           []                                 nodes in the cluster (required; sizes the run)
#   GPUS_PER_NODE   [8]
#   RECIPE          [qwen2_5_vl_72b_mmr1]              recipe name (or package.module:function)
#   MODEL_DIR       [/models/Qwen2.5-VL-72B-Instruct]  model folder as the containers see it
#   DATA            [/data/MMR1/train.parquet]         training data as the containers see it
#   OUTPUT_DIR      [runs/$RECIPE]                     run directory, relative to /workspace in the containers
#   RAY             [ray]                              Ray's command line, here
#   MMUPT           [megatron-mmupt]                   the project's command here, for the dry run
#   DRY_RUN         [0]                                1: print the plan and the command, submit nothing
# Arguments are config overrides. The dry-run planner checks the run for NODES x GPUS_PER_NODE GPUs first and
# sizes it (trainer.world_size, rollout.num_engines); a run that does not fit is not submitted.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

HEAD_ADDR=${HEAD_ADDR:-}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
NODES=${NODES:-}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
RECIPE=${RECIPE:-qwen2_5_vl_72b_mmr1}
MODEL_DIR=${MODEL_DIR:-/models/Qwen2.5-VL-72B-Instruct}
DATA=${DATA:-/data/MMR1/train.parquet}
OUTPUT_DIR=${OUTPUT_DIR:-runs/$RECIPE}
RAY=${RAY:-ray}
MMUPT=${MMUPT:-megatron-mmupt}

require_set HEAD_ADDR "$HEAD_ADDR" "set it to the address of the node that runs 'start_node.sh head'"
require_set NODES "$NODES" "set it to the number of nodes that joined the cluster (ray status lists them)"
require_int NODES "$NODES"
require_int GPUS_PER_NODE "$GPUS_PER_NODE"
require_int DASHBOARD_PORT "$DASHBOARD_PORT"
mmupt_command "$MMUPT"
[[ "${DRY_RUN:-0}" == 1 ]] || command -v "$RAY" >/dev/null ||
  die "RAY=$RAY is not on PATH; pip install ray==2.60.0 here, or run this script inside the head's container"

overrides=(
  "actor.model=$MODEL_DIR" "data.processor=$MODEL_DIR" "data.source.path=$DATA" "output_dir=$OUTPUT_DIR" "$@"
)
sizing_line=$(plan_overrides "$NODES" "$GPUS_PER_NODE" "$RECIPE" "${overrides[@]}")
read -r -a sizing <<<"$sizing_line"
log "submitting $RECIPE to the cluster at $HEAD_ADDR ($NODES x $GPUS_PER_NODE GPUs)"
# The job's driver finds the cluster through RAY_ADDRESS, which Ray sets for job entrypoints.
run "$RAY" job submit --address "http://$HEAD_ADDR:$DASHBOARD_PORT" -- \
  megatron-mmupt train --recipe "$RECIPE" "${overrides[@]}" "${sizing[@]}"
