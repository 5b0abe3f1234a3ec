"""The CPU shim patches torch process-wide, so it is exercised in a child process."""

import pytest

try:  # the distributed launcher gives a fresh spawned process
    from launch import run_distributed
except ImportError:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "distributed"))
    from launch import run_distributed


def _shimmed(rank: int, world_size: int) -> dict:
    import torch

    from megatron_mmupt.actor.megatron import cpu_shim

    cpu_shim.apply()
    cpu_shim.apply()  # idempotent
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed

    parallel_state.initialize_model_parallel(1, 1)
    model_parallel_cuda_manual_seed(7)  # needs the CUDA RNG functions
    x = torch.zeros(3, device="cuda")
    return {"device": str(x.device), "type": x.type(), "moved": str(torch.ones(1).cuda().device)}


@pytest.mark.distributed
def test_cuda_calls_land_on_the_cpu():
    (result,) = run_distributed(_shimmed, 1, timeout=120)
    assert result == {"device": "cpu", "type": "torch.cuda.FloatTensor", "moved": "cpu"}
