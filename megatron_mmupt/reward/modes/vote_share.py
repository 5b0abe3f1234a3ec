"""``vote_share``: a graded self-reward. Each sample gets the fraction of the G samples that agree with
its answer (0 without an answer, and 0 for every sample of a skipped group). Unlike ``majority``, a
large minority still earns part of the reward, which keeps a signal in groups split between answers.
Not part of MM-UPT: it is the reward of EMPO (Zhang et al. 2025, "Right Question is Already Half the Answer:
Fully Unsupervised LLM Reasoning Incentivization", arXiv 2504.05812, §3), the probability of the sample's
semantic cluster, whose policy gradient minimizes the answer-level (semantic) entropy. EMPO also drops groups
whose entropy is too high (in its code: all G answers distinct); ``reward.vote.min_vote_share`` does that here.
"""

from __future__ import annotations

from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore


@REWARD_MODES.register("vote_share")
def vote_share(judgement: GroupJudgement) -> ModeScore:
    vote = judgement.vote
    skipped = vote.status.is_skipped
    return ModeScore(
        rewards=tuple(0.0 if skipped else vote.share(i) for i in range(vote.num_samples)),
        answers=tuple(e.answer for e in judgement.extractions),
        pseudo_label=judgement.answer_of_class(vote.majority),
        status=vote.status,
        pseudo_label_correct=judgement.majority_correct,
    )
