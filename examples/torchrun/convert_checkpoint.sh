#!/usr/bin/env bash
# Convert between a Hugging Face folder and a Megatron dist-checkpoint at TP x PP, under torchrun on one node
# or several (`megatron-mmupt convert`, docs/bridge.md). Run the same command on every node, NODE_RANK apart:
#
#   DIRECTION=hf-to-mcore HF_DIR=/models/Qwen2.5-VL-72B-Instruct CKPT_DIR=/shared/ckpt-tp8pp4 TP=8 PP=4 \
#     NNODES=4 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash examples/torchrun/convert_checkpoint.sh
#   DIRECTION=mcore-to-hf CKPT_DIR=/shared/ckpt-tp8pp4 HF_DIR=/shared/Qwen2.5-VL-72B-mmupt \
#     NNODES=4 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash examples/torchrun/convert_checkpoint.sh
#
# Settings (environment variables; default in brackets):
#   DIRECTION       [hf-to-mcore]  hf-to-mcore: HF_DIR -> CKPT_DIR; mcore-to-hf: CKPT_DIR -> HF_DIR
#   HF_DIR          []             Hugging Face folder (the source, or the folder to create)
#   CKPT_DIR        []             Megatron checkpoint folder (the folder to create, or the source)
#   TP, PP          [1], [1]       hf-to-mcore: the checkpoint's layout; the world size must be a multiple of TP x PP
#                                  (mcore-to-hf loads at the launch's layout and ignores them)
#   NNODES          [1]            nodes taking part
#   NODE_RANK       [0]            this node's index, 0 .. NNODES-1
#   NPROC_PER_NODE  [8]            processes (GPUs) per node
#   MASTER_ADDR     [127.0.0.1]    address of node 0, as every node reaches it
#   MASTER_PORT     [29500]
#   PYTHON          [python]       the interpreter with the project installed
#   DRY_RUN         [0]            1: print the command, start nothing
# Every node must see HF_DIR and CKPT_DIR at the same path (a shared filesystem).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

DIRECTION=${DIRECTION:-hf-to-mcore}
HF_DIR=${HF_DIR:-}
CKPT_DIR=${CKPT_DIR:-}
TP=${TP:-1}
PP=${PP:-1}
PYTHON=${PYTHON:-python}
# shellcheck source=SCRIPTDIR/torchrun_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/torchrun_env.sh"

require_one_of DIRECTION "$DIRECTION" hf-to-mcore mcore-to-hf
require_set HF_DIR "$HF_DIR" "set it to the Hugging Face model folder"
require_set CKPT_DIR "$CKPT_DIR" "set it to the Megatron checkpoint folder"
require_int TP "$TP"
require_int PP "$PP"
world=$((NNODES * NPROC_PER_NODE))
if [[ "$DIRECTION" == hf-to-mcore ]]; then
  ((world % (TP * PP) == 0)) ||
    die "TP x PP = $((TP * PP)) does not divide the world of NNODES x NPROC_PER_NODE = $world processes; change TP/PP or NPROC_PER_NODE"
  require_model_dir HF_DIR "$HF_DIR"
  [[ "$NODE_RANK" != 0 ]] || require_new_dir CKPT_DIR "$CKPT_DIR"
  args=(hf-to-mcore --hf "$HF_DIR" --out "$CKPT_DIR" --tp "$TP" --pp "$PP")
else
  [[ -f "$CKPT_DIR/mmupt_bridge.json" ]] ||
    die "CKPT_DIR=$CKPT_DIR has no mmupt_bridge.json; give a checkpoint written by 'convert hf-to-mcore'"
  [[ "$NODE_RANK" != 0 ]] || require_new_dir HF_DIR "$HF_DIR"
  args=(mcore-to-hf --ckpt "$CKPT_DIR" --out "$HF_DIR")
fi

run "$PYTHON" -m torch.distributed.run "${TORCHRUN_ARGS[@]}" -m megatron_mmupt.cli convert "${args[@]}"
