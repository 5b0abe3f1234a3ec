"""The torchrun example scripts, really launched: the parity check at TP=2 on 2 processes (gloo on CPU)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.distributed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parity_script_at_tp2(tiny_model_dir):
    env = {**os.environ, "HF_DIR": str(tiny_model_dir), "TP": "2", "NPROC_PER_NODE": "2", "SPEC": "local",
           "PYTHON": sys.executable, "MASTER_PORT": str(free_port())}  # fmt: skip
    result = subprocess.run(
        ["bash", "examples/torchrun/check_parity.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tp=2 pp=1 spec=local: max |logit difference| =" in result.stdout and result.stdout.rstrip().endswith("OK")
