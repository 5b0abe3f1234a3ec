#!/usr/bin/env bash
# Check that the Megatron-Core model at TP x PP (weights loaded through the bridge) gives the logits of
# transformers on the same inputs (tools/check_parity.py), under torchrun on one node or several:
#
#   HF_DIR=/models/Qwen2.5-VL-7B-Instruct TP=4 NPROC_PER_NODE=4 bash examples/torchrun/check_parity.sh
#   HF_DIR=/shared/Qwen2.5-VL-72B-Instruct TP=8 PP=2 NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 \
#     bash examples/torchrun/check_parity.sh
#
# Settings (environment variables; default in brackets):
#   HF_DIR          []             Hugging Face model folder (config, weights, processor files)
#   TP, PP          [1], [1]       the layout to check; NNODES x NPROC_PER_NODE must equal TP x PP
#   SPEC            [auto]         layer spec: auto (Transformer Engine where it imports), te, local
#   TOLERANCE       [1e-4]         largest acceptable |logit difference| (bf16 runs need ~1e-1)
#   NNODES [1]  NODE_RANK [0]  NPROC_PER_NODE [8]  MASTER_ADDR [127.0.0.1]  MASTER_PORT [29500]
#   PYTHON          [python]       the interpreter with the project installed
#   DRY_RUN         [0]            1: print the command, start nothing
# Run from the repository root (tools/ is not installed with the package). Exit status: 0 within tolerance.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

HF_DIR=${HF_DIR:-}
TP=${TP:-1}
PP=${PP:-1}
SPEC=${SPEC:-auto}
TOLERANCE=${TOLERANCE:-1e-4}
PYTHON=${PYTHON:-python}
# shellcheck source=SCRIPTDIR/torchrun_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/torchrun_env.sh"

require_set HF_DIR "$HF_DIR" "set it to the Hugging Face model folder to check"
require_model_dir HF_DIR "$HF_DIR"
require_int TP "$TP"
require_int PP "$PP"
require_one_of SPEC "$SPEC" auto te local
[[ "$TOLERANCE" =~ ^[0-9.]+([eE]-?[0-9]+)?$ ]] || die "TOLERANCE=$TOLERANCE is not a number; set it like 1e-4"
world=$((NNODES * NPROC_PER_NODE))
((world == TP * PP)) ||
  die "the check runs TP x PP = $((TP * PP)) processes, but NNODES x NPROC_PER_NODE = $world; set NPROC_PER_NODE=$((TP * PP / NNODES))"
[[ -f tools/check_parity.py ]] || die "tools/check_parity.py not found; run this script from the repository root"

run "$PYTHON" -m torch.distributed.run "${TORCHRUN_ARGS[@]}" tools/check_parity.py \
  --hf "$HF_DIR" --tp "$TP" --pp "$PP" --spec "$SPEC" --tolerance "$TOLERANCE"
