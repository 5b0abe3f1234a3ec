# Shared by the example scripts (sourced, not run): input checks that fail with one line naming the problem
# and the fix, and `run`, which prints instead of running under DRY_RUN=1.
# shellcheck shell=bash

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

log() {
  printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# require_int NAME VALUE: a positive integer setting.
require_int() {
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1=$2 is not a positive integer; set $1 to a number such as 8"
}

# require_one_of NAME VALUE CHOICE...
require_one_of() {
  local name=$1 value=$2
  shift 2
  local choice
  for choice in "$@"; do
    [[ "$value" == "$choice" ]] && return 0
  done
  die "$name=$value is not valid; set $name to one of: $*"
}

# require_set NAME VALUE HINT: a setting without a usable default.
require_set() {
  [[ -n "$2" ]] || die "$1 is not set; $3"
}

# require_model_dir NAME DIR: a Hugging Face model folder (config.json and safetensors weights).
require_model_dir() {
  [[ -d "$2" ]] || die "$1=$2 is not a folder; set $1 to a Hugging Face model folder (config.json + *.safetensors)"
  [[ -f "$2/config.json" ]] || die "$1=$2 has no config.json; set $1 to a Hugging Face model folder"
  compgen -G "$2/*.safetensors" >/dev/null ||
    die "$1=$2 has no *.safetensors weights; download them, or convert a checkpoint with 'megatron-mmupt convert mcore-to-hf'"
}

# require_data NAME PATH: a data file, a folder of them, or a glob.
require_data() {
  [[ -e "$2" ]] || compgen -G "$2" >/dev/null ||
    die "$1=$2 does not exist; set $1 to a parquet/jsonl/arrow file, a folder of them, or a glob"
}

# require_new_dir NAME DIR: an output folder that is absent or empty (converters refuse to mix outputs).
require_new_dir() {
  if [[ -e "$2" ]] && [[ -n "$(ls -A "$2")" ]]; then
    die "$1=$2 exists and is not empty; choose a new folder or remove it"
  fi
}

# require_gpus COUNT: this machine shows at least COUNT GPUs (skipped where nvidia-smi is absent, e.g. DRY_RUN).
require_gpus() {
  command -v nvidia-smi >/dev/null || return 0
  local found
  found=$(nvidia-smi --list-gpus | wc -l)
  ((found >= $1)) || die "this node has $found GPU(s), the run needs $1; set NUM_GPUS/GPUS_PER_NODE to $found or use a bigger node"
}

# mmupt_command VALUE: the project's command line (MMUPT, e.g. "python -m megatron_mmupt.cli") -> array MMUPT_CMD.
mmupt_command() {
  read -r -a MMUPT_CMD <<<"$1"
  ((${#MMUPT_CMD[@]})) || die "MMUPT is empty; set it to the project's command, e.g. MMUPT=megatron-mmupt"
  command -v "${MMUPT_CMD[0]}" >/dev/null ||
    die "MMUPT: '${MMUPT_CMD[0]}' is not on PATH; install the project (pip install -e .) or set MMUPT"
}

# plan_overrides NODES GPUS_PER_NODE RECIPE [OVERRIDE...]: the dry-run planner's sizing of the run for the
# cluster (trainer.world_size=... rollout.num_engines=...); the plan itself goes to stderr. Needs MMUPT_CMD.
plan_overrides() {
  local nodes=$1 gpus=$2 recipe=$3
  shift 3
  local plan
  plan=$("${MMUPT_CMD[@]}" train --dry-run --nodes "$nodes" --gpus-per-node "$gpus" --recipe "$recipe" "$@") ||
    die "the dry run refused this run for $nodes node(s) x $gpus GPUs (the reason is above)"
  printf '%s\n' "$plan" >&2
  sed -n 's/^run with: //p' <<<"$plan"
}

# run COMMAND...: run it, or print it (shell-quoted, one line) when DRY_RUN=1.
run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then
    local line
    line=$(printf '%q ' "$@")
    printf '%s\n' "${line% }"
    return 0
  fi
  "$@"
}
