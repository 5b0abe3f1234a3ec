"""``majority``: MM-UPT's self-reward. 1 for a sample whose answer is equivalent to the group's
majority answer, 0 otherwise (and 0 for every sample of a skipped group).

Wei et al., "Unsupervised Post-Training for Multi-Modal LLM Reasoning via GRPO", arXiv 2505.22453, §3.
"""

from __future__ import annotations

from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore


@REWARD_MODES.register("majority")
def majority(judgement: GroupJudgement) -> ModeScore:
    vote = judgement.vote
    skipped = vote.status.is_skipped
    rewards = tuple(0.0 if skipped else float(vote.in_majority(i)) for i in range(vote.num_samples))
    return ModeScore(
        rewards=rewards,
        answers=tuple(e.answer for e in judgement.extractions),
        pseudo_label=judgement.answer_of_class(vote.majority),
        status=vote.status,
        pseudo_label_correct=judgement.majority_correct,
    )
