"""``margin_majority``: the majority reward scaled by how clearly the vote was won, so that narrow majorities
(the ones most often wrong) teach little and clear ones teach fully.

A sample in the majority class gets ``(n_1 - n_2) / G``, the margin of the winning class's ``n_1`` votes over the
runner-up's ``n_2`` (unanswered samples do not count as a class); every other sample gets 0. A unanimous group
gets 1 for every sample. Adapted from the prompt-level weighting of RESTRAIN (Yu et al. 2025, "From Spurious
Votes to Signals: Self-Driven RL with Self-Penalization", arXiv 2510.02172, §3), which down-weights prompts whose
votes are inconsistent; RESTRAIN computes its weights offline from the base model's votes, here the margin of the
current group's vote is the weight.

The weight scales a group's rewards uniformly, which the ``grpo`` estimator's division by the group std cancels:
pair this mode with ``algorithm.advantage.estimator=dr_grpo`` (or ``rloo``), where the advantage keeps the scale.
"""

from __future__ import annotations

from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore


@REWARD_MODES.register("margin_majority")
def margin_majority(judgement: GroupJudgement) -> ModeScore:
    vote = judgement.vote
    top, second = ([*sorted(vote.class_sizes, reverse=True), 0, 0])[:2]
    margin = 0.0 if vote.status.is_skipped else (top - second) / vote.num_samples
    return ModeScore(
        rewards=tuple(margin * vote.in_majority(i) for i in range(vote.num_samples)),
        answers=tuple(e.answer for e in judgement.extractions),
        pseudo_label=judgement.answer_of_class(vote.majority),
        status=vote.status,
        pseudo_label_correct=judgement.majority_correct,
    )
