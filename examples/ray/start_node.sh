#!/usr/bin/env bash
# One node of a multi-node Ray cluster, in a container of the GPU image: the head on the first node, a worker
# on each of the others. Then submit the run once (examples/ray/submit.sh); the driver runs on the head.
#
#   bash examples/ray/start_node.sh head                         # node 0
#   HEAD_ADDR=10.0.0.1 bash examples/ray/start_node.sh worker    # nodes 1 .. N-1
#   docker logs -f mmupt-ray                                      # Ray's output; `docker rm -f mmupt-ray` stops it
#
# Settings (environment variables; default in brackets):
#   IMAGE           [megatron-mmupt:gpu]  the GPU image (docker/Dockerfile.gpu), on every node
#   HEAD_ADDR       []                    the head node's address, as the other nodes reach it (workers: required)
#   RAY_PORT        [6379]                the head's Ray (GCS) port
#   DASHBOARD_PORT  [8265]                the head's dashboard and job-submission port
#   GPUS_PER_NODE   [8]                   GPUs Ray may use on this node
#   MODELS_DIR      [/models]             host folder of models, mounted read-only at the same path
#   DATA_DIR        [/data]               host folder of datasets, mounted read-only at the same path
#   RUNS_DIR        [$PWD/runs]           host folder of run directories, mounted at /workspace/runs; on several
#                                         nodes it must be one shared filesystem (every rank writes checkpoints)
#   CONTAINER       [mmupt-ray]           container name
#   DOCKER          [docker]              container engine command
#   DRY_RUN         [0]                   1: print the command, start nothing
# NCCL_* variables of this shell (e.g. NCCL_SOCKET_IFNAME, NCCL_IB_HCA) are passed into the container.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

ROLE=${1:-}
IMAGE=${IMAGE:-megatron-mmupt:gpu}
HEAD_ADDR=${HEAD_ADDR:-}
RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MODELS_DIR=${MODELS_DIR:-/models}
DATA_DIR=${DATA_DIR:-/data}
RUNS_DIR=${RUNS_DIR:-$PWD/runs}
CONTAINER=${CONTAINER:-mmupt-ray}
DOCKER=${DOCKER:-docker}

require_one_of "the first argument (role)" "$ROLE" head worker
require_int RAY_PORT "$RAY_PORT"
require_int DASHBOARD_PORT "$DASHBOARD_PORT"
require_int GPUS_PER_NODE "$GPUS_PER_NODE"
[[ "$ROLE" == head ]] || require_set HEAD_ADDR "$HEAD_ADDR" "workers join the head: set HEAD_ADDR to its address"
for name in MODELS_DIR DATA_DIR; do
  [[ -d "${!name}" ]] || die "$name=${!name} is not a folder; set $name to the host folder to mount"
done
if [[ "${DRY_RUN:-0}" != 1 ]]; then
  command -v "$DOCKER" >/dev/null || die "DOCKER=$DOCKER is not on PATH; install a container engine or set DOCKER"
  require_gpus "$GPUS_PER_NODE"
  mkdir -p "$RUNS_DIR"
fi

if [[ "$ROLE" == head ]]; then
  ray_args=(--head "--port=$RAY_PORT" --dashboard-host=0.0.0.0 "--dashboard-port=$DASHBOARD_PORT")
else
  ray_args=("--address=$HEAD_ADDR:$RAY_PORT")
fi
nccl_env=()
while IFS= read -r name; do
  nccl_env+=(-e "$name")
done < <(compgen -e | grep '^NCCL_' || true)

# Host networking: NCCL and Ray connect node to node on the hosts' addresses. The shared-memory and locked-memory
# limits are those NVIDIA recommends for its PyTorch containers (NCCL and the CUDA IPC weight sync use them).
run "$DOCKER" run --detach --name "$CONTAINER" --gpus all --network host --ipc host --shm-size 32g \
  --ulimit memlock=-1 --ulimit stack=67108864 \
  -v "$MODELS_DIR:$MODELS_DIR:ro" -v "$DATA_DIR:$DATA_DIR:ro" -v "$RUNS_DIR:/workspace/runs" \
  -e RAY_DEDUP_LOGS=0 "${nccl_env[@]}" \
  "$IMAGE" ray start "${ray_args[@]}" "--num-gpus=$GPUS_PER_NODE" --block
log "Ray $ROLE started in container $CONTAINER (docker logs -f $CONTAINER)"
