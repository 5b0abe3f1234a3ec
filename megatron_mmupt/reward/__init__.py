"""The vote-reward stage: ``list[RolloutGroup] -> RewardBatch`` (answer extraction, equivalence voting,
pseudo-labels, reward modes, diagnostics). See ``docs/reward.md``."""

from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.reward.majority_vote import GroupStatus, Vote
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.reward.types import GroupReward, RewardOutput

__all__ = ["GroupReward", "GroupStatus", "RewardBatch", "RewardOutput", "RewardStage", "Vote"]
