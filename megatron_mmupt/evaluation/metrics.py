"""Metrics of graded questions: pure functions of ``ItemResult``s, so they are checked on hand-made results.

Definitions, for a question with ``n`` samples:

* **pass@1**: the share of its samples that are correct; a benchmark's pass@1 is the mean over questions.
  It estimates the accuracy of a single sample without bias (and with less variance than one sample per
  question).
* **maj@n**: 1 if the answer elected by a vote of its ``n`` samples is correct, else 0; averaged over questions.
  The vote is the reward stage's (``reward.majority_vote``): answers vote by equivalence class, so ``1/2``,
  ``0.5`` and ``\\frac{1}{2}`` vote together.
* **Invalid answers** (no ``\\boxed{}``, an empty or over-long one) count as wrong in pass@1 and never vote:
  a question whose samples mostly fail to answer is decided by the few that did, and one with no answer
  at all scores 0. (MM-UPT's reference votes over raw strings, so "None" can win; here it cannot.)
* **Ties**: among classes with equally many votes the one sampled first wins (``tie_break="first_seen"``). The
  sample order is random, so this is an unbiased pick; it is deterministic given the samples, and it is
  the rule the training reward elects pseudo-labels by. ``ties`` reports how often it was needed.
* **answer_rate**: share of samples with an answer; **majority_share**: the elected class's votes over ``n``;
  **distinct_answers**: classes per question; **truncated**: share of samples cut by the length limit;
  **response_length**: mean tokens per sample.

Breakdowns regroup the same per-question values by a metadata field (``breakdown``); a question with a list
value (MathVista's ``skills``) counts in each of its groups, one without a value in none.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from megatron_mmupt.evaluation.results import ItemResult
from megatron_mmupt.reward.majority_vote import MajorityVote, Vote

_VOTE = MajorityVote(MajorityVote.Config(tie_break="first_seen"))

BreakdownFn = Callable[[Mapping[str, Any]], Sequence[str]]
"""The groups a question belongs to, from its metadata (none, one, or several)."""


def vote(item: ItemResult) -> Vote:
    """The vote of ``item``'s samples (classes, sizes, the elected class)."""
    return _VOTE(item.class_ids)


def majority_answer(item: ItemResult) -> str | None:
    """The elected answer as first sampled; ``None`` when no sample answered."""
    elected = vote(item).majority
    return None if elected is None else item.answers[item.class_ids.index(elected)]


def majority_correct(item: ItemResult) -> bool:
    elected = vote(item).majority
    return elected is not None and item.correct[item.class_ids.index(elected)]


def pass_at_1(item: ItemResult) -> float:
    return sum(item.correct) / item.n


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    """The metrics of a set of questions (see the module docstring); fractions in [0, 1]."""

    questions: int
    n: int
    pass_at_1: float
    maj_at_n: float
    answer_rate: float
    majority_share: float
    distinct_answers: float
    ties: float
    truncated: float
    response_length: float

    def to_dict(self) -> dict[str, float | int]:
        """Keyed as reported: ``maj_at_n`` becomes ``maj_at_8`` for ``n = 8``."""
        values = dataclasses.asdict(self)
        values[f"maj_at_{self.n}"] = values.pop("maj_at_n")
        return values


def summarize(items: Sequence[ItemResult]) -> Summary:
    """Metrics over ``items``; every item must have the same number of samples (the ``n`` of maj@n)."""
    if not items:
        raise ValueError("no graded questions to summarize")
    sizes = {item.n for item in items}
    if len(sizes) != 1:
        raise ValueError(f"questions have different numbers of samples {sorted(sizes)}; maj@n needs one n")
    votes = [vote(item) for item in items]
    return Summary(
        questions=len(items),
        n=sizes.pop(),
        pass_at_1=_mean(pass_at_1(item) for item in items),
        maj_at_n=_mean(float(majority_correct(item)) for item in items),
        answer_rate=_mean(v.num_valid / v.num_samples for v in votes),
        majority_share=_mean(v.majority_share for v in votes),
        distinct_answers=_mean(float(v.num_distinct) for v in votes),
        ties=_mean(float(v.num_valid > 0 and v.class_sizes.count(v.majority_count) > 1) for v in votes),
        truncated=_mean(_mean(float(t) for t in item.truncated) if item.truncated else 0.0 for item in items),
        response_length=_mean(_mean(map(float, item.num_tokens)) if item.num_tokens else 0.0 for item in items),
    )


def breakdown(items: Sequence[ItemResult], groups_of: BreakdownFn) -> dict[str, Summary]:
    """``summarize`` per group; groups in natural order (``2`` before ``10``), questions in input order."""
    members: dict[str, list[ItemResult]] = {}
    for item in items:
        for group in groups_of(item.metadata):
            members.setdefault(group, []).append(item)
    return {group: summarize(members[group]) for group in sorted(members, key=natural_key)}


def by_field(key: str) -> BreakdownFn:
    """Group by metadata field ``key``: its value, each element of a list value, nothing for ``None``."""

    def groups_of(metadata: Mapping[str, Any]) -> Sequence[str]:
        value = metadata.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]
        return list(dict.fromkeys(str(v) for v in values if v is not None and v != ""))

    return groups_of


def natural_key(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order before other text, which sorts alphabetically."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, math.inf, text)


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")
