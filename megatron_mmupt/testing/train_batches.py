"""Hand-sized ``TrainBatch``es for the algorithm's by-hand tests: one sequence, every token a response token."""

from __future__ import annotations

import torch

from megatron_mmupt.algorithm.types import TrainBatch


def one_sequence(old_logprobs: list[float], rollout_logprobs: list[float] | None = None, *,
                 advantage: float = 1.0) -> TrainBatch:  # fmt: skip
    """One sample of ``len(old_logprobs)`` response tokens in float64 (exact enough to compare with hand values)."""
    tokens = len(old_logprobs)
    rollout = None if rollout_logprobs is None else torch.tensor([rollout_logprobs], dtype=torch.float64)
    return TrainBatch(
        sample_ids=torch.arange(1),
        group_ids=torch.zeros(1, dtype=torch.long),
        rewards=torch.ones(1),
        advantages=torch.full((1,), advantage, dtype=torch.float64),
        response_mask=torch.ones(1, tokens, dtype=torch.bool),
        truncated=torch.zeros(1, dtype=torch.bool),
        old_logprobs=torch.tensor([old_logprobs], dtype=torch.float64),
        rollout_logprobs=rollout,
    )
