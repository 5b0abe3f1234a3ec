"""Grading: sampled responses + labels -> ``ItemResult``s, with the reward stage as the grader.

The reward stage extracts each response's final answer, clusters the answers of a question into equivalence
classes and compares them with the label (appended last, so it never changes the classes). Grading reuses it
whole, so an evaluation judges answers exactly as the training reward does: ``\\frac{1}{2}`` equals ``0.5``,
an option text equals its letter when the question has choices, and a response without an answer is wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from megatron_mmupt.config.configurable import ConfigNode
from megatron_mmupt.evaluation.results import ItemResult, Question, Responses
from megatron_mmupt.reward.equivalence import Equivalence
from megatron_mmupt.reward.stage import ExtractionConfig, RewardStage
from megatron_mmupt.rollout.types import FinishReason
from megatron_mmupt.utils.errors import InputError


@dataclasses.dataclass(kw_only=True, slots=True)
class GraderConfig(ConfigNode):
    """How answers are read and compared: the reward stage's extraction and equivalence (``docs/reward.md``)."""

    extraction: ExtractionConfig = dataclasses.field(default_factory=ExtractionConfig)
    """Where the final answer is read: ``\\boxed{}`` by default, as the MM-UPT prompt asks."""
    equivalence: Equivalence.Config = dataclasses.field(default_factory=Equivalence.Config)
    """When two answers are the same (numbers, choices, sets, expressions; tolerances, units)."""

    def build(self) -> RewardStage:
        """A reward stage that grades (its vote and mode are not used for metrics: ``metrics.py`` votes)."""
        return RewardStage.Config(mode="majority", extraction=self.extraction, equivalence=self.equivalence).build()


def grade(grader: RewardStage, questions: Sequence[Question], responses: Sequence[Responses]) -> list[ItemResult]:
    """One ``ItemResult`` per question, in order; ``responses[i]`` answers ``questions[i]``.

    All questions are graded in one reward-stage call, so the symbolic judge sees them as one batch.
    """
    if len(questions) != len(responses):
        raise ValueError(f"{len(questions)} questions but {len(responses)} sets of responses")
    unlabeled = [q.id for q in questions if q.answer is None]
    if unlabeled:
        raise InputError(
            f"{len(unlabeled)} of {len(questions)} questions have no answer (e.g. {', '.join(unlabeled[:3])}); "
            "evaluation needs labels (a benchmark's test split without answers cannot be scored)"
        )
    groups = []
    for question, sampled in zip(questions, responses, strict=True):
        if question.id != sampled.id:
            raise ValueError(f"responses of {sampled.id!r} given for question {question.id!r}")
        groups.append(sampled.to_group(question))
    if not groups:
        return []
    scored = grader.score_groups(groups)
    results = []
    for question, sampled, group in zip(questions, responses, scored, strict=True):
        judgement = group.judgement
        assert judgement.correct is not None and question.answer is not None  # labels checked above
        results.append(
            ItemResult(
                id=question.id,
                answer=question.answer,
                answers=tuple(e.answer for e in judgement.extractions),
                class_ids=judgement.vote.class_ids,
                correct=judgement.correct,
                num_tokens=sampled.num_tokens,
                truncated=tuple(FinishReason(r).is_truncated for r in sampled.finish_reasons),
                metadata=question.metadata,
            )
        )
    return results
