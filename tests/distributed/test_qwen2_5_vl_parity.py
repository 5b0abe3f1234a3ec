"""The Megatron Qwen2.5-VL, loaded through the bridge, against transformers: logits at TP=1, TP=2 and PP=2.

Two gloo processes, device-strict (a model or batch left off the device raises); the tiny demo model; fp32; eager
attention on the transformers side.
"""

import pytest

from megatron_mmupt.actor.megatron.distributed import init_parallel
from megatron_mmupt.actor.megatron.parity import (
    max_abs_difference,
    megatron_logits,
    parity_batch,
    transformers_logits,
)
from megatron_mmupt.parallel.config import ParallelConfig

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed
TOLERANCE = 1e-4


def _parity_worker(rank: int, world_size: int, model_dir: str, tp: int, pp: int) -> float | None:
    parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp)
    groups = init_parallel(parallel)
    batch, real = parity_batch(model_dir)
    logits = megatron_logits(model_dir, parallel, groups, batch)
    if logits is None:
        return None
    return max_abs_difference(logits, transformers_logits(model_dir, batch), real)


@pytest.mark.parametrize(("tp", "pp"), [(1, 1), (2, 1), (1, 2)], ids=["tp1", "tp2", "pp2"])
def test_logits_match_transformers(tiny_model_dir, tp, pp):
    world = tp * pp
    differences = run_distributed(_parity_worker, world, str(tiny_model_dir), tp, pp, timeout=240, device_strict=True)
    reported = [d for d in differences if d is not None]
    assert len(reported) == tp  # every TP rank of the last stage gathers the full vocabulary
    assert max(reported) <= TOLERANCE, f"max |logit difference| {max(reported):.2e} at tp={tp}, pp={pp}"
