"""The root of a run's configuration: one typed section per stage of the data flow.

A recipe (``megatron_mmupt.recipes``) returns a ``RunConfig``; dotted overrides adjust it
(``reward.mode=vote_share``); ``validate`` checks what spans sections; the resolved config is
written as JSON into the run directory.
"""

from __future__ import annotations

import dataclasses
import warnings

from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.config.configurable import ConfigError, ConfigNode
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.reward.stage import RewardStage


@dataclasses.dataclass(kw_only=True, slots=True)
class RunConfig(ConfigNode):
    name: str = "mmupt"
    """Run name: the default run directory and the experiment name in loggers."""
    output_dir: str = "runs/mmupt"
    """Directory of the run: resolved config, outputs, checkpoints, logs."""
    seed: int = 1
    """Seed of every random choice the run makes (reference: 1)."""
    data: PromptPipeline.Config = dataclasses.field(default_factory=PromptPipeline.Config)
    """The prompt pipeline: dataset, column preset, images, prompt template, sampling, workers."""
    reward: RewardStage.Config = dataclasses.field(default_factory=RewardStage.Config)
    """The vote-reward stage: extraction, equivalence, vote, reward mode, format term."""
    algorithm: AlgorithmConfig = dataclasses.field(default_factory=AlgorithmConfig)
    """The GRPO objective: advantages, policy loss, KL, aggregation, filters."""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\\0"):
            raise ConfigError(f"name={self.name!r} must be a non-empty name without path separators")
        if not self.output_dir:
            raise ConfigError("output_dir must not be empty")

    def validate(self) -> RunConfig:
        """Checks across sections; returns ``self`` so it chains after overrides.

        Contradictions raise ``ConfigError``; options that a choice elsewhere makes inert warn.
        """
        reward = self.reward
        if reward.mode in ("reference", "supervised"):
            inert = [
                f"reward.vote.{key}"
                for key, default in (("min_vote_share", 0.0), ("tie_break", "first_seen"))
                if getattr(reward.vote, key) != default
            ]
            if inert:
                warnings.warn(
                    f"reward.mode={reward.mode} does not vote, so {', '.join(inert)} has no effect", stacklevel=2
                )
        return self
