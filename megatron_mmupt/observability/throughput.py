"""Throughput of a step from token counts and stage times (``perf/*`` metrics).

* ``perf/tokens_per_s``: tokens (prompt + response) of the step's training batch per wall second of the whole
  step (``time/step``): the end-to-end rate, the one the progress bar shows;
* ``perf/tokens_per_s_per_gpu``: the same divided by the number of GPUs of the run (actor and rollout);
* ``perf/rollout_tokens_per_s``: generated (response) tokens per second of the rollout stage.

The log-prob mismatch between the trainer and the rollout engine is a per-token tensor statistic and lives
with the other ones in :func:`megatron_mmupt.algorithm.metrics.logprob_mismatch_metrics`.
"""

from __future__ import annotations

import torch


def tokens_per_second(num_tokens: int | float | torch.Tensor, seconds: float) -> float:
    """``num_tokens / seconds``; NaN when no time elapsed (a rate of nothing measured is not a number)."""
    if seconds < 0:
        raise ValueError(f"seconds={seconds} must be >= 0")
    return float(num_tokens) / seconds if seconds > 0 else float("nan")


def throughput_metrics(
    *,
    num_tokens: int | float | torch.Tensor,
    step_seconds: float,
    num_response_tokens: int | float | torch.Tensor | None = None,
    rollout_seconds: float | None = None,
    num_gpus: int = 1,
) -> dict[str, float]:
    """The ``perf/*`` metrics of one step (see the module docstring).

    Args:
        num_tokens: prompt + response tokens the step trained on (e.g. ``response_mask.numel()`` minus padding).
        step_seconds: ``time/step`` of :class:`~megatron_mmupt.observability.timer.StageTimer`.
        num_response_tokens: tokens the rollout generated; with ``rollout_seconds`` gives the generation rate.
        rollout_seconds: ``time/rollout``.
        num_gpus: GPUs of the whole run, for the per-GPU rate.
    """
    if num_gpus < 1:
        raise ValueError(f"num_gpus={num_gpus} must be >= 1")
    rate = tokens_per_second(num_tokens, step_seconds)
    metrics = {"perf/tokens_per_s": rate, "perf/tokens_per_s_per_gpu": rate / num_gpus}
    if num_response_tokens is not None and rollout_seconds is not None:
        metrics["perf/rollout_tokens_per_s"] = tokens_per_second(num_response_tokens, rollout_seconds)
    return metrics
