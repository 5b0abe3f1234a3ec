"""Reward modes: ``majority`` (MM-UPT), ``vote_share``, ``supervised`` (labels), ``reference`` (MM-UPT's exact code path)."""

from megatron_mmupt.reward.modes import majority, reference, supervised, vote_share  # noqa: F401  (registration)
from megatron_mmupt.reward.modes.registry import REWARD_MODES, RewardMode

__all__ = ["REWARD_MODES", "RewardMode"]
