"""The root of a run's configuration: one typed section per stage of the data flow.

A recipe (``megatron_mmupt.recipes``) returns a ``RunConfig``; dotted overrides adjust it
(``reward.mode=vote_share``); ``validate`` checks what spans sections; the resolved config is
written as JSON into the run directory.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

from megatron_mmupt.actor.config import ActorConfig
from megatron_mmupt.algorithm.config import AlgorithmConfig
from megatron_mmupt.checkpoint.config import CheckpointConfig
from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice, check_positive, check_range
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.evaluation.heldout import HeldOutConfig
from megatron_mmupt.observability.logger import MetricsLogger
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.trainer.collapse_guard import CollapseGuard


@dataclasses.dataclass(kw_only=True, slots=True)
class TrainerConfig(ConfigNode):
    """The RL loop: how long, how the rollout batch is cut into optimizer steps, where old log-probs come from."""

    num_steps: int = 100
    """Rollout steps (each: one batch of ``data.sampler.batch_size`` prompts)."""
    updates_per_step: int = 4
    """Optimizer steps per rollout step, each on an equal share of the prompts (reference: 512 / 128 = 4)."""
    world_size: int = 1
    """Ranks of the actor (Ray workers): a multiple of ``actor.parallel`` TP x PP; the rest is data parallel."""
    old_logprobs: Literal["recompute", "rollout"] = "recompute"
    """``recompute``: the actor recomputes the old policy's log-probs before updating (exact ratios);
    ``rollout``: use the engine's (saves a forward pass; the proximal and behaviour policies are then the same, so
    ``algorithm.off_policy`` has nothing to correct and the PPO ratio absorbs the engine/trainer mismatch)."""

    max_staleness: int = 0
    """``0``: synchronous (generate, then train, then sync). ``k >= 1``: the engines generate later steps while the
    actor trains, on weights at most ``k`` versions old (``trainer/rollout_ahead.py``); pair it with
    ``algorithm.off_policy.weighting`` (``decoupled``) to correct for the stale samples. Colocated runs stay
    synchronous (the engines and the actor take turns on the GPUs)."""

    def __post_init__(self) -> None:
        check_positive("num_steps", self.num_steps)
        check_range("max_staleness", self.max_staleness, 0, 64)
        check_positive("updates_per_step", self.updates_per_step)
        check_positive("world_size", self.world_size)
        check_choice("old_logprobs", self.old_logprobs, ("recompute", "rollout"))


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
    guard: CollapseGuard.Config = dataclasses.field(default_factory=CollapseGuard.Config)
    """The consensus-collapse guard: label-free collapse signals, thresholds, and what an alarmed step does."""
    actor: ActorConfig = dataclasses.field(default_factory=ActorConfig)
    """The Megatron-Core actor: model folder, TP/PP, optimizer, micro-batches, precision."""
    rollout: RolloutConfig = dataclasses.field(default_factory=RolloutConfig)
    """The rollout engines (local or SGLang), their number and sampling; weight-sync bucket size."""
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    """The RL loop: steps, optimizer steps per rollout step, actor ranks."""
    eval: HeldOutConfig = dataclasses.field(default_factory=HeldOutConfig)
    """Held-out pass@1 / maj@n before, during and after training (labels used here only)."""
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)
    """Ray: local or an existing cluster; resources per worker; colocated or separate engines."""
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    """When to save (model, optimizer, data position, RNG), how many to keep, HF exports."""
    logging: MetricsLogger.Config = dataclasses.field(default_factory=MetricsLogger.Config)
    """Console progress, metrics.jsonl, wandb, TensorBoard, curves.png."""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\\0"):
            raise ConfigError(f"name={self.name!r} must be a non-empty name without path separators")
        if not self.output_dir:
            raise ConfigError("output_dir must not be empty")

    def validate(self) -> RunConfig:
        """Checks across sections; returns ``self`` so it chains after overrides.

        Contradictions raise ``ConfigError``; options that a choice elsewhere makes inert warn.
        """
        self._check_batch_shape()
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
        if self.algorithm.off_policy.weighting is not None and self.trainer.old_logprobs == "rollout":
            warnings.warn(
                f"algorithm.off_policy.weighting={self.algorithm.off_policy.weighting} has no effect with "
                "trainer.old_logprobs=rollout: its ratio pi_old / pi_rollout is then 1; set trainer.old_logprobs="
                "recompute",
                stacklevel=2,
            )
        if self.trainer.max_staleness and self.algorithm.off_policy.weighting is None:
            warnings.warn(
                f"trainer.max_staleness={self.trainer.max_staleness} trains on samples of older weights, and "
                "algorithm.off_policy.weighting is unset, so nothing corrects for it; set "
                "algorithm.off_policy.weighting=decoupled (with trainer.old_logprobs=recompute)",
                stacklevel=2,
            )
        if reward.mode == "margin_majority" and self.algorithm.advantage.estimator == "grpo":
            warnings.warn(
                "reward.mode=margin_majority scales each group's rewards, which the grpo estimator's std "
                "normalization cancels (it then equals majority); set algorithm.advantage.estimator=dr_grpo",
                stacklevel=2,
            )
        return self

    def _check_batch_shape(self) -> None:
        prompts = self.data.sampler.batch_size
        steps = self.trainer.updates_per_step
        if steps > prompts:
            raise ConfigError(
                f"trainer.updates_per_step={steps} needs at least as many prompts per step, but "
                f"data.sampler.batch_size={prompts}; lower updates_per_step or raise batch_size"
            )
        if self.rollout.sampling.n < 2 and self.reward.mode != "supervised":
            raise ConfigError(
                f"rollout.sampling.n={self.rollout.sampling.n}: the vote needs at least 2 samples per prompt "
                "(GRPO compares samples within a group); set rollout.sampling.n >= 2"
            )
        model_parallel = self.actor.parallel.tensor_degree * self.actor.parallel.pipeline_degree
        if self.trainer.world_size % model_parallel:
            raise ConfigError(
                f"trainer.world_size={self.trainer.world_size} is not a multiple of actor.parallel "
                f"tensor_degree x pipeline_degree = {model_parallel}"
            )
