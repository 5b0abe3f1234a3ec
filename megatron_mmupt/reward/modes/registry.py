"""The registry of reward modes: each turns one judged group into rewards.

Every mode has the signature ``mode(judgement: GroupJudgement) -> ModeScore`` and lives in its own
file. Skipped groups (``ModeScore.status.is_skipped``) must get all-zero rewards: the stage checks it.
"""

from __future__ import annotations

from collections.abc import Callable

from megatron_mmupt.reward.types import GroupJudgement, ModeScore
from megatron_mmupt.utils.registry import Registry

RewardMode = Callable[[GroupJudgement], ModeScore]


def _signature(judgement: GroupJudgement) -> ModeScore:  # the shape every mode must have
    raise NotImplementedError


REWARD_MODES: Registry[RewardMode] = Registry("reward mode", signature=_signature)
