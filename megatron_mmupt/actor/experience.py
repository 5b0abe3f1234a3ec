"""Rollout groups + rewards -> what the actor trains on: padded sequences and per-sample tensors.

One row per sampled response, group after group, in rollout order (the order of ``RewardBatch.rewards``).
Built on the driver; the same ``SequenceBatch`` is then handed to every rank of the actor.
"""

from __future__ import annotations

import dataclasses

import torch

from megatron_mmupt.actor.sequences import SequenceBatch, build_sequences, place_response_values
from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.rollout.types import RolloutGroup


@dataclasses.dataclass(frozen=True, slots=True)
class Experience:
    """Fields (shapes, ``N`` samples, ``L`` the padded sequence length)::

    sequences         SequenceBatch  model inputs; ``response_mask`` (N, L - 1) marks response tokens
    rewards           (N,)     float  the reward stage's rewards
    group_ids         (N,)     long   index of the sample's prompt in the batch
    truncated         (N,)     bool   stopped by the token budget, not by EOS / a stop token
    rollout_logprobs  (N, L-1) float  the engine's log-probs of the sampled tokens (0 off the response)
    """

    sequences: SequenceBatch
    rewards: torch.Tensor
    group_ids: torch.Tensor
    truncated: torch.Tensor
    rollout_logprobs: torch.Tensor

    @property
    def num_samples(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def num_tokens(self) -> int:
        """Prompt + response tokens of all samples (padding excluded)."""
        return int((self.sequences.prompt_lengths + self.sequences.response_lengths).sum())

    @property
    def num_response_tokens(self) -> int:
        return int(self.sequences.response_mask.sum())


def collect_experience(
    batch: PromptBatch, groups: list[RolloutGroup], rewards: RewardBatch, *, pad_token_id: int
) -> Experience:
    prompts = {p.id: p for p in batch}
    rows = [(i, prompts[g.prompt_id], r) for i, g in enumerate(groups) for r in g.rollouts]
    if any(not r.response_token_ids for _, _, r in rows):
        raise ValueError("a rollout has no response token ids; training needs the engine's token ids")
    sequences = build_sequences([p for _, p, _ in rows], [r.response_token_ids for _, _, r in rows], pad_token_id)
    return Experience(
        sequences=sequences,
        rewards=torch.tensor(rewards.rewards, dtype=torch.float32),
        group_ids=torch.tensor([i for i, _, _ in rows], dtype=torch.long),
        truncated=torch.tensor([r.finish_reason.is_truncated for _, _, r in rows], dtype=torch.bool),
        rollout_logprobs=place_response_values([r.rollout_logprobs for _, _, r in rows], sequences),
    )


def minibatches(batch: TrainBatch, num: int) -> list[TrainBatch]:
    """``batch`` split into ``num`` optimizer steps of whole groups (groups in order; the first get one more)."""
    groups = torch.unique_consecutive(batch.group_ids)
    if groups.numel() != torch.unique(batch.group_ids).numel():
        raise ValueError("the samples of a group must be contiguous in the batch")
    parts = [p for p in torch.tensor_split(groups, min(num, groups.numel())) if p.numel()]
    return [batch.select(torch.isin(batch.group_ids, part)) for part in parts]
