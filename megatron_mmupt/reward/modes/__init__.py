"""Reward modes, one per file: ``majority`` (MM-UPT), ``vote_share`` (EMPO's answer-cluster probability),
``margin_majority`` (narrow majorities down-weighted), ``majority_certainty`` (self-certainty inside the vote's
classes), ``supervised`` (labels), ``reference`` (MM-UPT's exact code path), ``random`` (a control: the vote's
reward rate, drawn at random). All but ``supervised`` read no label.
"""

from megatron_mmupt.reward.modes import (  # noqa: F401  (registration)
    majority,
    majority_certainty,
    margin_majority,
    random_reward,
    reference,
    supervised,
    vote_share,
)
from megatron_mmupt.reward.modes.registry import REWARD_MODES, RewardMode

__all__ = ["REWARD_MODES", "RewardMode"]
