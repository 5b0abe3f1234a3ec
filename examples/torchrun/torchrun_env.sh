# The launch settings shared by the torchrun scripts (sourced after lib/common.sh): checked, then TORCHRUN_ARGS.
#   NNODES [1]  NODE_RANK [0]  NPROC_PER_NODE [8]  MASTER_ADDR [127.0.0.1]  MASTER_PORT [29500]
# shellcheck shell=bash

NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
NPROC_PER_NODE=${NPROC_PER_NODE:-8}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}

require_int NNODES "$NNODES"
require_int NPROC_PER_NODE "$NPROC_PER_NODE"
require_int MASTER_PORT "$MASTER_PORT"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || ((NODE_RANK >= NNODES)); then
  die "NODE_RANK=$NODE_RANK is not a node index below NNODES=$NNODES; set NODE_RANK to 0 .. $((NNODES - 1))"
fi
if ((NNODES > 1)) && [[ "$MASTER_ADDR" == 127.0.0.1 || "$MASTER_ADDR" == localhost ]]; then
  die "MASTER_ADDR=$MASTER_ADDR with NNODES=$NNODES: the other nodes cannot reach it; set MASTER_ADDR to node 0's address"
fi
# shellcheck disable=SC2034  # read by the scripts that source this file
TORCHRUN_ARGS=(--nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$NPROC_PER_NODE"
  --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT")
