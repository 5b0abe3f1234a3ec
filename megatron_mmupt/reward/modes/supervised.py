"""``supervised``: the supervised GRPO baseline. 1 for a sample whose answer equals the ground truth,
else 0. The vote is ignored (every labeled group is scored); rows without a label are an error.
"""

from __future__ import annotations

from megatron_mmupt.reward.majority_vote import GroupStatus
from megatron_mmupt.reward.modes.registry import REWARD_MODES
from megatron_mmupt.reward.types import GroupJudgement, ModeScore
from megatron_mmupt.utils.errors import InputError


@REWARD_MODES.register("supervised")
def supervised(judgement: GroupJudgement) -> ModeScore:
    if judgement.correct is None:
        raise InputError(
            f"reward mode 'supervised' needs a ground-truth answer, but prompt {judgement.group.prompt_id!r} has none; "
            "add an 'answer' column or use reward.mode=majority"
        )
    return ModeScore(
        rewards=tuple(float(c) for c in judgement.correct),
        answers=tuple(e.answer for e in judgement.extractions),
        pseudo_label=judgement.group.answer,
        status=GroupStatus.SCORED,
        pseudo_label_correct=True,
    )
