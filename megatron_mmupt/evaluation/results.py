"""Typed records of an evaluation: the question, its sampled responses, and the graded result.

    Question   what grading needs from a prompt (label, options, breakdown metadata), without its tensors
    Responses  the n sampled responses to one question: what the generation cache stores
    ItemResult one graded question: each sample's answer, equivalence class and correctness

They are small and plain on purpose: an evaluation of thousands of questions keeps all of them in memory
(prompts with their pixels are encoded batch by batch and dropped), and ``Responses`` round-trips through
JSON Lines unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.rollout.types import FinishReason, Rollout, RolloutGroup


@dataclasses.dataclass(frozen=True, slots=True)
class Question:
    """One labeled question of a benchmark.

    Attributes:
        id: the row's id (``Prompt.id``), unique within its benchmark.
        answer: the ground truth (``None`` when the row has none: such a question cannot be graded).
        choices: option texts in letter order, or empty (the grader maps option text <-> letter).
        metadata: the fields breakdowns group by (a subset of ``Prompt.metadata``).
    """

    id: str
    answer: str | None
    choices: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_prompt(cls, prompt: Prompt, metadata_keys: Iterable[str] | None = None) -> Question:
        """``metadata_keys``: which metadata to keep (``None``: all of it)."""
        meta = prompt.metadata if metadata_keys is None else {k: prompt.metadata.get(k) for k in metadata_keys}
        return cls(prompt.id, prompt.answer, tuple(prompt.choices), dict(meta))


@dataclasses.dataclass(frozen=True, slots=True)
class Responses:
    """The ``n`` samples drawn for one question, in sampling order (the vote's tie-break refers to it).

    Attributes:
        id: the question's id.
        key: the generation key (``cache.generation_key``): model, sampling and the encoded prompt.
        texts: ``(n,)`` decoded responses.
        finish_reasons: ``(n,)`` why each sample ended (``stop``, ``length``, ``abort``).
        num_tokens: ``(n,)`` response lengths in tokens.
    """

    id: str
    key: str
    texts: tuple[str, ...]
    finish_reasons: tuple[str, ...]
    num_tokens: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.texts:
            raise ValueError(f"question {self.id!r} has no responses")
        if not len(self.texts) == len(self.finish_reasons) == len(self.num_tokens):
            raise ValueError(f"question {self.id!r}: texts, finish_reasons and num_tokens differ in length")

    @property
    def n(self) -> int:
        return len(self.texts)

    @classmethod
    def from_group(cls, group: RolloutGroup, key: str) -> Responses:
        return cls(
            id=group.prompt_id,
            key=key,
            texts=tuple(group.responses),
            finish_reasons=tuple(r.finish_reason.value for r in group.rollouts),
            num_tokens=tuple(group.response_lengths),
        )

    def to_group(self, question: Question) -> RolloutGroup:
        """The group the reward stage grades: these texts with the question's label and options."""
        rollouts = tuple(
            Rollout(text, FinishReason(reason)) for text, reason in zip(self.texts, self.finish_reasons, strict=True)
        )
        return RolloutGroup(self.id, rollouts, answer=question.answer, choices=question.choices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "texts": list(self.texts),
            "finish_reasons": list(self.finish_reasons),
            "num_tokens": list(self.num_tokens),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Responses:
        return cls(
            id=str(data["id"]),
            key=str(data["key"]),
            texts=tuple(str(t) for t in data["texts"]),
            finish_reasons=tuple(str(r) for r in data["finish_reasons"]),
            num_tokens=tuple(int(n) for n in data["num_tokens"]),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ItemResult:
    """One graded question.

    Attributes:
        id: the question's id.
        answer: the ground truth it was graded against.
        answers: ``(n,)`` each sample's extracted answer, ``None`` when it gave none (no box, empty, too long).
        class_ids: ``(n,)`` equivalence class of each answer, numbered 0, 1, ... in first-seen order; ``None``
            for a sample without an answer. Samples in one class gave the same answer (``1/2`` == ``0.5``).
        correct: ``(n,)`` whether each answer equals the ground truth; always ``False`` without an answer.
        num_tokens: ``(n,)`` response lengths in tokens.
        truncated: ``(n,)`` whether a sample hit the length limit before it ended.
        metadata: the fields breakdowns group by.
    """

    id: str
    answer: str
    answers: tuple[str | None, ...]
    class_ids: tuple[int | None, ...]
    correct: tuple[bool, ...]
    num_tokens: tuple[int, ...] = ()
    truncated: tuple[bool, ...] = ()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.class_ids)
        if n == 0:
            raise ValueError(f"item {self.id!r} has no samples")
        sizes = {len(self.answers), len(self.correct), len(self.num_tokens) or n, len(self.truncated) or n}
        if sizes != {n}:
            raise ValueError(f"item {self.id!r}: per-sample fields differ in length")
        # Correctness is a property of the answer, so of its class: a grader that disagrees with itself is a bug.
        verdict: dict[int, bool] = {}
        for class_id, ok in zip(self.class_ids, self.correct, strict=True):
            if class_id is None:
                if ok:
                    raise ValueError(f"item {self.id!r}: a sample without an answer is marked correct")
            elif verdict.setdefault(class_id, ok) != ok:
                raise ValueError(f"item {self.id!r}: class {class_id} holds both correct and wrong samples")

    @property
    def n(self) -> int:
        return len(self.class_ids)
