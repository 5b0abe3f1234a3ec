"""``majority_certainty``: the majority reward, with the policy's own certainty ordering the samples inside each
answer class, so that GRPO prefers the confident members of the majority over its lucky guesses.

Reward of an answered sample: ``1[in majority] + CERTAINTY_WEIGHT * rank``, where ``rank`` in [0, 1] is the
sample's place among the group's answered samples by certainty (0 the least certain, 1 the most; Borda ranks,
ties averaged). Since the weight is below 1, every majority sample still outranks every other one: the vote decides
the sign of an advantage, the certainty only its size. Unanswered samples and skipped groups get 0.

Sources, adapted: self-certainty as a reward (Zhao et al. 2025, "Learning to Reason without External Rewards"
(Intuitor), arXiv 2505.19590) and as Borda-ranked weights of a vote (Kang et al. 2025, "Scalable Best-of-N
Selection for Large Language Models via Self-Certainty", arXiv 2502.18581). Both define self-certainty as the mean
over response tokens of KL(uniform || p_t), which needs the full next-token distribution; the reward stage only has
the log-probs of the sampled tokens (``Rollout.rollout_logprobs``), so the certainty here is their mean, the
per-token log-likelihood of the response (the negative of the one-sample estimate of its token entropy, the
quantity EM-RL rewards: Agarwal et al. 2025, "The Unreasonable Effectiveness of Entropy Minimization in LLM
Reasoning", arXiv 2505.15134). Rollouts without log-probs (scoring a file) all rank equally.
"""

from __future__ import annotations

from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore

CERTAINTY_WEIGHT = 0.5
"""Weight of the certainty rank; below 1, so the vote always dominates."""


def certainty(logprobs: tuple[float, ...]) -> float:
    """Mean log-prob per sampled token (0 without log-probs)."""
    return sum(logprobs) / len(logprobs) if logprobs else 0.0


def borda_ranks(values: list[float]) -> list[float]:
    """Rank of each value in [0, 1] (ties share their mean rank); a single value ranks 1."""
    n = len(values)
    if n == 1:
        return [1.0]
    return [(sum(u < v for u in values) + (sum(u == v for u in values) - 1) / 2) / (n - 1) for v in values]


@REWARD_MODES.register("majority_certainty")
def majority_certainty(judgement: GroupJudgement) -> ModeScore:
    vote, rollouts = judgement.vote, judgement.group.rollouts
    answered = [i for i in range(vote.num_samples) if vote.class_ids[i] is not None]
    rewards = [0.0] * vote.num_samples
    if not vote.status.is_skipped:
        ranks = borda_ranks([certainty(rollouts[i].rollout_logprobs) for i in answered])
        for i, rank in zip(answered, ranks, strict=True):
            rewards[i] = float(vote.in_majority(i)) + CERTAINTY_WEIGHT * rank
    return ModeScore(
        rewards=tuple(rewards),
        answers=tuple(e.answer for e in judgement.extractions),
        pseudo_label=judgement.answer_of_class(vote.majority),
        status=vote.status,
        pseudo_label_correct=judgement.majority_correct,
    )
