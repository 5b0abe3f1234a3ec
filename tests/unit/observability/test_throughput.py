"""tokens/s and the perf/* metrics of a step."""

import math

import pytest
import torch

from megatron_mmupt.observability.throughput import throughput_metrics, tokens_per_second


def test_tokens_per_second():
    assert tokens_per_second(1000, 4.0) == 250.0
    assert tokens_per_second(torch.tensor(300), 1.5) == 200.0  # a 0-d count from the objective's metrics
    assert math.isnan(tokens_per_second(10, 0.0))
    with pytest.raises(ValueError):
        tokens_per_second(10, -1.0)


def test_throughput_metrics():
    metrics = throughput_metrics(
        num_tokens=8000, step_seconds=4.0, num_response_tokens=3000, rollout_seconds=1.5, num_gpus=8
    )
    assert metrics == {
        "perf/tokens_per_s": 2000.0,
        "perf/tokens_per_s_per_gpu": 250.0,
        "perf/rollout_tokens_per_s": 2000.0,
    }
    assert set(throughput_metrics(num_tokens=1, step_seconds=1.0)) == {"perf/tokens_per_s", "perf/tokens_per_s_per_gpu"}
    with pytest.raises(ValueError):
        throughput_metrics(num_tokens=1, step_seconds=1.0, num_gpus=0)
