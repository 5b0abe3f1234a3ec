"""``random``: a control arm that carries no information. Each sample gets 1 with probability equal to the
group's vote-reward rate (the share of its samples the ``majority`` mode would reward), else 0; a group the
vote skips gets 0 everywhere, as under ``majority``. So the rewards have the vote's shape and scale (the same
expected number of 1s per group, the same skipped groups) but are independent of what each sample answered.

What a label-free method gains beyond this arm is what its reward says; what this arm gains too is sharpening
that any reward of this kind brings (on Qwen2.5-Math-7B, random rewards raised MATH-500 by 21.4 points against
27.1 for the majority vote: Shao et al. 2025, "Spurious Rewards: Rethinking Training Signals in RLVR",
arXiv 2506.10947, §2). Their random reward is Bernoulli(gamma) with a fixed gamma; here gamma is the group's
vote-reward rate, so that the control differs from ``majority`` in the information only.

Seeded without state: the draws of a group come from a hash of its prompt id and its responses, so a run is
reproducible given its rollouts (which ``rollout.sampling.seed`` seeds), and groups and steps draw independently.
"""

from __future__ import annotations

import hashlib
import random

from megatron_mmupt.reward.modes.majority import majority
from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore
from megatron_mmupt.rollout.types import RolloutGroup


def group_rng(group: RolloutGroup) -> random.Random:
    """A generator seeded by the group's prompt id and responses (the same group always draws the same)."""
    digest = hashlib.blake2b(digest_size=8)
    for text in (group.prompt_id, *group.responses):
        digest.update(text.encode())
        digest.update(b"\0")  # a separator, so that ("ab", "c") and ("a", "bc") differ
    return random.Random(int.from_bytes(digest.digest(), "little"))


@REWARD_MODES.register("random")
def random_reward(judgement: GroupJudgement) -> ModeScore:
    vote_score = majority(judgement)
    rate = sum(vote_score.rewards) / len(vote_score.rewards)  # 0 for a skipped group
    rng = group_rng(judgement.group)
    return ModeScore(
        rewards=tuple(float(rng.random() < rate) for _ in vote_score.rewards),
        answers=vote_score.answers,
        pseudo_label=None,  # no answer is treated as correct
        status=vote_score.status,
        pseudo_label_correct=None,
    )
