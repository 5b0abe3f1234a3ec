"""One RL step's middle: experience -> TrainBatch (old and reference log-probs, advantages) -> actor updates.

The driver (``megatron_mmupt/train.py``) calls ``prepare`` then ``update``; both return flat metric dicts.
"""

from __future__ import annotations

import torch

from megatron_mmupt.actor.experience import Experience, minibatches
from megatron_mmupt.actor.group import ActorGroup
from megatron_mmupt.algorithm.batch import make_train_batch
from megatron_mmupt.algorithm.metrics import logprob_mismatch_metrics
from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.config.run_config import RunConfig


def logprob_temperature(config: RunConfig) -> float:
    """Temperature the actor scores tokens at: the rollout's, or 1 for greedy rollouts (as the engines report)."""
    sampling = config.rollout.sampling
    return 1.0 if sampling.is_greedy else sampling.temperature


def prepare(
    actor: ActorGroup, experience: Experience, config: RunConfig, *, version_lag: torch.Tensor | None = None
) -> tuple[TrainBatch, dict[str, float]]:
    """Old-policy and reference log-probs from the actor, then advantages and filters (algorithm stage).

    ``version_lag`` ``# (N,)``: how many versions each sample's weights trail the actor's (rollout ahead of
    training); ``None``: every sample is on the actor's weights."""
    sequences, temperature = experience.sequences, logprob_temperature(config)
    rollout = experience.rollout_logprobs
    old = actor.logprobs(sequences, temperature) if config.trainer.old_logprobs == "recompute" else rollout
    ref = actor.logprobs(sequences, temperature, reference=True) if config.algorithm.kl.coef > 0 else None
    batch, metrics = make_train_batch(
        rewards=experience.rewards,
        group_ids=experience.group_ids,
        response_mask=sequences.response_mask,
        truncated=experience.truncated,
        cfg=config.algorithm,
        old_logprobs=old,
        ref_logprobs=ref,
        rollout_logprobs=rollout,
        version_lag=version_lag,
    )
    metrics |= logprob_mismatch_metrics(old, rollout, sequences.response_mask, version_lag)
    return batch, _floats(metrics)


def update(actor: ActorGroup, experience: Experience, batch: TrainBatch, config: RunConfig) -> dict[str, float]:
    """``trainer.updates_per_step`` optimizer steps over whole groups; metrics averaged over them."""
    if batch.num_samples == 0:  # every group filtered out (e.g. all unanimous): nothing to learn from
        return {"actor/updates": 0.0}
    temperature = logprob_temperature(config)
    steps = [
        actor.train_step(experience.sequences, part, temperature)
        for part in minibatches(batch, config.trainer.updates_per_step)
    ]
    keys = sorted({k for s in steps for k in s})
    metrics = {k: sum(s[k] for s in steps if k in s) / sum(k in s for s in steps) for k in keys}
    return metrics | {"actor/updates": float(len(steps))}


def _floats(metrics: dict[str, torch.Tensor | float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}
