"""The deployment scripts of examples/: strict, and each input check fails with one line naming the fix.

Scripts run with DRY_RUN=1, so they print the commands they would start (the planner still runs: it needs no
GPU). SLURM's commands are stand-ins on PATH. shellcheck checks the same files statically (make check-scripts).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = sorted([*ROOT.glob("examples/**/*.sh"), *ROOT.glob("examples/**/*.sbatch")])
SOURCED = {"examples/lib/common.sh", "examples/torchrun/torchrun_env.sh"}  # helpers, not programs
MMUPT = f"{sys.executable} -m megatron_mmupt.cli"


def run_script(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "DRY_RUN": "1", **env}
    return subprocess.run(["bash", script, *args], cwd=ROOT, env=environment, capture_output=True, text=True)


@pytest.fixture
def model_dir(tmp_path):
    """A model folder as the scripts check it: config.json (the demo model's) and safetensors."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text((ROOT / "examples/demo_base_model/config.json").read_text())
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize("script", [s.relative_to(ROOT).as_posix() for s in SCRIPTS])
def test_scripts_are_strict_and_executable(script):
    text = (ROOT / script).read_text()
    if script in SOURCED:
        assert "set -e" not in text  # a sourced file must not change its caller's options
        return
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert os.access(ROOT / script, os.X_OK)


def test_one_node_run_is_planned_then_started(model_dir, tmp_path):
    data = tmp_path / "train.parquet"
    data.write_bytes(b"")
    # The demo model has 4 attention heads and 2 KV heads: the recipe's TP 4 shares each KV head over 2 ranks.
    env = dict(MODEL_DIR=str(model_dir), DATA=str(data), MMUPT=MMUPT)
    result = run_script("examples/qwen2_5_vl_7b_mmr1.sh", **env)
    assert result.returncode == 0, result.stderr
    assert "dry run: qwen2_5_vl_7b_mmr1 on 1 node x 8 GPUs" in result.stderr
    command = result.stdout.strip()
    assert command.startswith(f"{sys.executable} -m megatron_mmupt.cli train --recipe qwen2_5_vl_7b_mmr1 ")
    assert f"actor.model={model_dir}" in command and f"data.source.path={data}" in command
    assert command.endswith("trainer.world_size=8 rollout.num_engines=2")

    refused = run_script("examples/qwen2_5_vl_7b_mmr1.sh", "actor.parallel.tensor_degree=3", **env)  # nothing starts
    assert refused.returncode == 1 and not refused.stdout
    assert "tensor_degree=3 must divide the 4 attention heads" in refused.stderr


@pytest.mark.parametrize(
    ("script", "env", "message"),
    [
        ("examples/qwen2_5_vl_7b_mmr1.sh", {"MODEL_DIR": "/nonexistent"},
         "error: MODEL_DIR=/nonexistent is not a folder; set MODEL_DIR to a Hugging Face model folder"),
        ("examples/qwen2_5_vl_7b_mmr1.sh", {"NUM_GPUS": "eight", "DATA": "examples/data"},
         "error: NUM_GPUS=eight is not a positive integer"),
        ("examples/ray/start_node.sh", {}, "error: the first argument (role)= is not valid; set the first argument"),
        ("examples/ray/submit.sh", {}, "error: HEAD_ADDR is not set; set it to the address of the node"),
        ("examples/torchrun/convert_checkpoint.sh", {"HF_DIR": "/m", "CKPT_DIR": "/c", "TP": "3"},
         "error: TP x PP = 3 does not divide the world of NNODES x NPROC_PER_NODE = 8 processes"),
        ("examples/torchrun/convert_checkpoint.sh", {"HF_DIR": "/m", "CKPT_DIR": "/c", "NNODES": "2"},
         "error: MASTER_ADDR=127.0.0.1 with NNODES=2: the other nodes cannot reach it"),
        ("examples/torchrun/convert_checkpoint.sh", {"DIRECTION": "mcore-to-hf", "HF_DIR": "/m", "CKPT_DIR": "/c"},
         "error: CKPT_DIR=/c has no mmupt_bridge.json"),
        ("examples/slurm/mmupt_ray.sbatch", {}, "error: not inside a SLURM job; submit it: sbatch"),
    ],
)  # fmt: skip
def test_bad_inputs_fail_naming_the_fix(model_dir, script, env, message):
    env = {"MODEL_DIR": str(model_dir), **env}
    result = run_script(script, **env)
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.startswith(message), result.stderr


def test_parity_check_needs_tp_x_pp_processes(model_dir):
    result = run_script("examples/torchrun/check_parity.sh", HF_DIR=str(model_dir), TP="2", NPROC_PER_NODE="4")
    assert result.stderr.startswith("error: the check runs TP x PP = 2 processes, but NNODES x NPROC_PER_NODE = 4")
    ok = run_script("examples/torchrun/check_parity.sh", HF_DIR=str(model_dir), TP="2", NPROC_PER_NODE="2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == [
        "python", "-m", "torch.distributed.run", "--nnodes", "1", "--node_rank", "0", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", "29500", "tools/check_parity.py", "--hf", str(model_dir),
        "--tp", "2", "--pp", "1", "--spec", "auto", "--tolerance", "1e-4",
    ]  # fmt: skip


def test_ray_head_and_worker_containers(tmp_path):
    dirs = dict(MODELS_DIR=str(tmp_path), DATA_DIR=str(tmp_path), RUNS_DIR=str(tmp_path / "runs"))
    head = run_script("examples/ray/start_node.sh", "head", NCCL_SOCKET_IFNAME="eth0", **dirs)
    assert head.returncode == 0, head.stderr
    assert "--gpus all --network host" in head.stdout and "-e NCCL_SOCKET_IFNAME" in head.stdout
    assert head.stdout.rstrip().endswith(
        "megatron-mmupt:gpu ray start --head --port=6379 --dashboard-host=0.0.0.0 --dashboard-port=8265 "
        "--num-gpus=8 --block"
    )
    worker = run_script("examples/ray/start_node.sh", "worker", HEAD_ADDR="10.0.0.1", **dirs)
    assert worker.stdout.rstrip().endswith("ray start --address=10.0.0.1:6379 --num-gpus=8 --block")


def test_submit_once_sized_by_the_plan():
    result = run_script("examples/ray/submit.sh", "trainer.num_steps=60", HEAD_ADDR="10.0.0.1", NODES="16", MMUPT=MMUPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ray job submit --address http://10.0.0.1:8265 -- megatron-mmupt train")
    assert result.stdout.rstrip().endswith("trainer.num_steps=60 trainer.world_size=128 rollout.num_engines=16")
    too_small = run_script("examples/ray/submit.sh", HEAD_ADDR="10.0.0.1", NODES="1", MMUPT=MMUPT)
    assert too_small.returncode == 1 and not too_small.stdout
    assert "fix: --nodes 4" in too_small.stderr


def slurm_stand_ins(folder: Path, hosts: list[str]) -> str:
    """``scontrol show hostnames`` and ``srun ... hostname --ip-address`` as a 16-node allocation answers them."""
    folder.mkdir()
    (folder / "scontrol").write_text("#!/usr/bin/env bash\nprintf '%s\\n' " + " ".join(hosts) + "\n")
    (folder / "srun").write_text('#!/usr/bin/env bash\n[[ "$*" == *hostname* ]] && echo 10.0.0.1\n')
    for stub in ("scontrol", "srun"):
        (folder / stub).chmod(0o755)
    return f"{folder}:{os.environ['PATH']}"


def test_slurm_job_plans_for_its_allocation(tmp_path):
    data = tmp_path / "train.parquet"
    data.write_bytes(b"")
    hosts = [f"gpu{i:02d}" for i in range(16)]
    env = dict(PATH=slurm_stand_ins(tmp_path / "bin", hosts), SLURM_JOB_ID="7", SLURM_JOB_NODELIST="gpu[00-15]",
               SLURM_JOB_NUM_NODES="16", SLURM_SUBMIT_DIR=str(ROOT), DATA=str(data), MMUPT=MMUPT)  # fmt: skip
    result = run_script("examples/slurm/mmupt_ray.sbatch", **env)
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.splitlines())  # the ray start lines print from background jobs
    assert any("-w gpu00 ray start --head --node-ip-address=10.0.0.1 --port=6379" in line for line in lines)
    assert any("--nodes=15 --ntasks=15 --exclude=gpu00 ray start --address=10.0.0.1:6379" in line for line in lines)
    driver = next(line for line in lines if " train --recipe qwen2_5_vl_72b_mmr1 " in line)
    assert "env RAY_ADDRESS=10.0.0.1:6379" in driver and driver.endswith(
        "trainer.world_size=128 rollout.num_engines=16"
    )
