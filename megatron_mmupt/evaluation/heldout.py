"""Held-out accuracy of the policy through a rollout engine, during training: pass@1 and maj@n on a labeled split.

    evaluator = HeldOutEval(config.eval, data=config.data, rollout_sampling=config.rollout.sampling)
    metrics = evaluator.run(engine)     # {"eval/pass_at_1": ..., "eval/maj_at_n": ..., ...}

The same code as ``megatron-mmupt eval`` (``runner.py``): samples drawn by ``generation.generate_responses``
(seeds independent of batching), graded by ``grading.grade`` (the reward stage's extraction and equivalence
against the dataset's labels; the labels are read here, never by the training reward), and summarized by
``metrics.summarize`` (pass@1, maj@n with first-seen ties, invalid answers wrong; see ``metrics.py``). The
prompts are encoded once and reused at every evaluation, and sampling seeds depend only on the question and the
sample index, so two evaluations differ only through the weights. There is no cache: the weights change.
"""

from __future__ import annotations

import dataclasses

from megatron_mmupt.config.configurable import ConfigNode, check_positive, check_range
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.data.sampler import SamplerConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.evaluation.generation import eval_sampling, generate_responses
from megatron_mmupt.evaluation.grading import GraderConfig, grade
from megatron_mmupt.evaluation.metrics import summarize
from megatron_mmupt.evaluation.results import Question
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.engine import RolloutEngine, SamplingConfig


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
    greedy: bool = False
    """Also decode each question once greedily and report its accuracy (``eval/greedy``): the single answer the
    papers judge (MM-UPT reports near-greedy decoding), beside pass@1 and maj@n at ``temperature``."""

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
        self.questions: list[Question] = []
        self.grader: RewardStage | None = None
        if not config.enabled:
            return
        pipeline_config = dataclasses.replace(
            data,
            source=config.source,
            sampler=SamplerConfig(batch_size=config.batch_size, shuffle=False, drop_last=False),
            num_epochs=1,
        )
        source = config.source.build(config_key="eval.source")
        self.batches = list(PromptPipeline(pipeline_config, source=source))
        self.questions = [Question.from_prompt(p, metadata_keys=()) for batch in self.batches for p in batch]
        unlabeled = sum(q.answer is None for q in self.questions)
        if unlabeled:
            raise ValueError(
                f"eval.source.path={config.source.path!r}: {unlabeled} of {len(self.questions)} questions have no "
                "answer; evaluation needs labels"
            )
        self.sampling = eval_sampling(
            rollout_sampling,
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_new_tokens=config.max_new_tokens or rollout_sampling.max_new_tokens,
            seed=config.seed,
        )
        self.greedy_sampling = dataclasses.replace(self.sampling, n=1, temperature=0.0, top_p=1.0)
        self.grader = GraderConfig().build()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def due(self, step: int, last_step: int) -> bool:
        """After the last step, and every ``every`` steps (the evaluation before training is the caller's)."""
        every = self.config.every
        return self.enabled and (step == last_step or (every > 0 and step % every == 0))

    @property
    def num_questions(self) -> int:
        return len(self.questions)

    def run(self, engine: RolloutEngine, prefix: str = "eval/") -> dict[str, float]:
        if self.grader is None:
            raise RuntimeError("held-out evaluation is off: eval.source.path is empty")
        responses = [r for batch in self.batches for r in generate_responses(engine, batch.prompts, self.sampling)]
        summary = summarize(grade(self.grader, self.questions, responses))
        greedy = {f"{prefix}greedy": self._greedy_accuracy(engine)} if self.config.greedy else {}
        return greedy | {
            f"{prefix}pass_at_1": summary.pass_at_1,
            f"{prefix}maj_at_{summary.n}": summary.maj_at_n,
            f"{prefix}answer_rate": summary.answer_rate,
            f"{prefix}majority_ratio": summary.majority_share,
            f"{prefix}distinct_answers": summary.distinct_answers,
            f"{prefix}response_length": summary.response_length,
            f"{prefix}questions": float(summary.questions),
        }

    def _greedy_accuracy(self, engine: RolloutEngine) -> float:
        """Share of questions whose one greedy answer is correct (ties in the logits aside, no seed matters)."""
        assert self.grader is not None
        responses = [r for b in self.batches for r in generate_responses(engine, b.prompts, self.greedy_sampling)]
        return summarize(grade(self.grader, self.questions, responses)).pass_at_1

    def close(self) -> None:
        if self.grader is not None:
            self.grader.close()
