"""Rewards of a rollout -> :class:`TrainBatch`: non-finite check, advantages, filters, metrics.

This is the algorithm stage of the data flow (``algorithm/: groups + rewards -> TrainBatch``). It works on
plain tensors so that it does not depend on the rollout package's types; the caller flattens its groups into
one row per sample and passes the group id of each row.
"""

from __future__ import annotations

import dataclasses

import torch

from megatron_mmupt.algorithm.advantage import ADVANTAGE_ESTIMATORS
from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.algorithm.filters import apply_filters
from megatron_mmupt.algorithm.metrics import Metrics, sample_metrics
from megatron_mmupt.algorithm.numerics import guard_finite
from megatron_mmupt.algorithm.types import TrainBatch


def make_train_batch(
    *,
    rewards: torch.Tensor,
    group_ids: torch.Tensor,
    response_mask: torch.Tensor,
    truncated: torch.Tensor,
    cfg: AlgorithmConfig,
    sample_ids: torch.Tensor | None = None,
    old_logprobs: torch.Tensor | None = None,
    ref_logprobs: torch.Tensor | None = None,
    rollout_logprobs: torch.Tensor | None = None,
    version_lag: torch.Tensor | None = None,
) -> tuple[TrainBatch, Metrics]:
    """Compute advantages and apply the filters of ``cfg``; return the batch to train on and its metrics.

    Args (shapes):
        rewards ``# (N,)`` float; group_ids ``# (N,)`` long (any values, any order); response_mask ``# (N, T)``
        bool; truncated ``# (N,)`` bool; sample_ids ``# (N,)`` long (default ``arange(N)``); the optional
        log-probs ``# (N, T)``; version_lag ``# (N,)`` long (default: 0 for every row, see :class:`TrainBatch`).

    Order: (1) samples with a non-finite reward are removed (``on_nonfinite=drop``, counted in
    ``nonfinite/rewards``) or raise (``raise``), so they never enter a group's statistics; (2) the registered
    advantage estimator runs on every remaining sample; (3) filters drop zero-advantage groups and/or mask
    truncated responses. Reward and advantage metrics describe the batch before filtering.
    """
    n = rewards.shape[0]
    sample_ids = torch.arange(n, device=rewards.device) if sample_ids is None else sample_ids
    batch = TrainBatch(
        sample_ids=sample_ids,
        group_ids=group_ids,
        rewards=rewards,
        advantages=torch.zeros(n, dtype=torch.float32, device=rewards.device),
        response_mask=response_mask,
        truncated=truncated,
        old_logprobs=old_logprobs,
        ref_logprobs=ref_logprobs,
        rollout_logprobs=rollout_logprobs,
        version_lag=version_lag,
    )
    _, finite, num_bad = guard_finite("rewards", rewards, torch.ones_like(truncated), cfg.on_nonfinite)
    batch = batch.select(finite)
    estimator = ADVANTAGE_ESTIMATORS.get(cfg.advantage.estimator)
    advantages = estimator(batch.rewards, batch.group_ids, cfg.advantage)
    kept = apply_filters(batch.rewards, batch.group_ids, batch.response_mask, batch.truncated, cfg.filters)
    every = torch.ones_like(batch.truncated)
    metrics = (
        {"nonfinite/rewards": num_bad}
        | sample_metrics(batch.rewards, every, prefix="reward/")
        | sample_metrics(advantages, every, prefix="advantage/")
        | kept.metrics
    )
    batch = dataclasses.replace(batch, advantages=advantages, response_mask=kept.response_mask)
    return batch.select(kept.keep), metrics
