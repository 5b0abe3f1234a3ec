"""Held-out accuracy of the policy through a rollout engine: pass@1 and maj@n on a labeled split.

    evaluator = HeldOutEval(config.eval, data=config.data, seed=config.seed)
    metrics = evaluator.run(engine)     # {"eval/pass_at_1": ..., "eval/maj_at_n": ..., ...}

pass@1 is the mean correctness of the ``n`` samples of a question (an unbiased estimate of single-sample
accuracy); maj@n is the correctness of their majority answer. Both are graded by the reward stage's extraction
and equivalence against the dataset's labels: the labels are read here, never by the training reward. The
prompts are encoded once and reused at every evaluation; sampling seeds depend only on the question and the
sample index, so two evaluations differ only through the weights.
"""

from __future__ import annotations

import dataclasses

from megatron_mmupt.config.configurable import ConfigNode, check_positive, check_range
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.data.sampler import SamplerConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.engine import RolloutEngine, SamplingConfig
from megatron_mmupt.rollout.types import RolloutGroup


@dataclasses.dataclass(kw_only=True, slots=True)
class HeldOutConfig(ConfigNode):
    source: DatasetSource.Config = dataclasses.field(default_factory=DatasetSource.Config)
    """The labeled split; an empty ``source.path`` turns evaluation off."""
    every: int = 0
    """Evaluate every this many steps (and after the last); 0: only before and after training."""
    before: bool = True
    """Evaluate the starting model before the first step (off when the caller already knows its figures)."""
    n: int = 8
    """Samples per question (the n of maj@n)."""
    temperature: float = 1.0
    """Sampling temperature of the evaluation."""
    top_p: float = 1.0
    max_new_tokens: int | None = None
    """``None``: the training rollouts' limit."""
    batch_size: int = 128
    """Questions per engine call."""
    seed: int = 1234
    """Base of the evaluation's sample seeds (fixed, so evaluations are comparable)."""

    def __post_init__(self) -> None:
        check_range("every", self.every, 0)
        check_positive("n", self.n)
        check_range("temperature", self.temperature, 0.0)
        check_range("top_p", self.top_p, 0.0, 1.0)
        check_positive("batch_size", self.batch_size)

    @property
    def enabled(self) -> bool:
        return bool(self.source.path)


class HeldOutEval:
    def __init__(self, config: HeldOutConfig, *, data: PromptPipeline.Config, rollout_sampling: SamplingConfig) -> None:
        self.config = config
        self.batches: list[PromptBatch] = []
        self.grader: RewardStage | None = None
        if not config.enabled:
            return
        pipeline_config = dataclasses.replace(
            data,
            source=config.source,
            sampler=SamplerConfig(batch_size=config.batch_size, shuffle=False, drop_last=False),
            num_epochs=1,
        )
        self.batches = list(pipeline_config.build())
        self.sampling = dataclasses.replace(
            rollout_sampling,
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=-1,
            max_new_tokens=config.max_new_tokens or rollout_sampling.max_new_tokens,
            seed=config.seed,
        )
        # The vote over the n samples gives maj@n; labels are compared for diagnostics only.
        self.grader = RewardStage.Config(mode="majority").build()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def due(self, step: int, last_step: int) -> bool:
        """After the last step, and every ``every`` steps (the evaluation before training is the caller's)."""
        every = self.config.every
        return self.enabled and (step == last_step or (every > 0 and step % every == 0))

    @property
    def num_questions(self) -> int:
        return sum(len(b) for b in self.batches)

    def run(self, engine: RolloutEngine, prefix: str = "eval/") -> dict[str, float]:
        if self.grader is None:
            raise RuntimeError("held-out evaluation is off: eval.source.path is empty")
        groups: list[RolloutGroup] = []
        for batch in self.batches:
            # Seeds hash the batch position too: a fixed position keeps them equal across evaluations.
            groups += engine.generate(dataclasses.replace(batch, epoch=0), self.sampling)
        metrics = self.grader.score_groups(groups).metrics()
        if "label/pass_at_1" not in metrics:
            raise ValueError(f"eval.source.path={self.config.source.path!r} has no answers; evaluation needs labels")
        lengths = [n for g in groups for n in g.response_lengths]
        n = self.sampling.n
        return {
            f"{prefix}pass_at_1": metrics["label/pass_at_1"],
            f"{prefix}maj_at_{n}": metrics["label/maj_at_k"],
            f"{prefix}answer_rate": metrics["vote/answer_rate"],
            f"{prefix}majority_ratio": metrics["vote/majority_ratio"],
            f"{prefix}distinct_answers": metrics["vote/distinct_answers"],
            f"{prefix}response_length": sum(lengths) / max(1, len(lengths)),
            f"{prefix}questions": float(len(groups)),
        }

    def close(self) -> None:
        if self.grader is not None:
            self.grader.close()
