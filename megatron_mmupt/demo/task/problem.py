"""A demo problem (scene, question, answer, reference solution) and the registry of question types.

Every question type is a function ``(rng, difficulty) -> Problem`` registered under its name in
``QUESTION_TYPES``; it draws a scene, asks about it, and computes the answer from the scene. Difficulty
runs from 1 (few objects, one-digit numbers) to ``MAX_DIFFICULTY`` (more objects and distractors,
two-digit numbers, two-step arithmetic); what each level means is documented by each type.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from megatron_mmupt.demo.task.scene import Scene
from megatron_mmupt.utils.registry import Registry

DIFFICULTIES = (1, 2, 3)
MAX_DIFFICULTY = DIFFICULTIES[-1]


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One question about one image.

    Attributes:
        question_type: the registry name that made it.
        difficulty: 1 (easiest) to ``MAX_DIFFICULTY``.
        scene: what the image shows (rendered by ``render.render``); the ground truth.
        question: the question text, without the ``<image>`` placeholder and without the MM-UPT instruction.
        answer: the final answer as a solution boxes it (a number, a word, or an option letter).
        solution: a short chain of thought ending in ``\\boxed{answer}`` (for an SFT warm-up).
        choices: option texts in letter order for multiple-choice questions; empty otherwise.
    """

    question_type: str
    difficulty: int
    scene: Scene
    question: str
    answer: str
    solution: str
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.solution.endswith(f"\\boxed{{{self.answer}}}"):
            raise ValueError(f"solution {self.solution!r} does not end in \\boxed{{{self.answer}}}")


QuestionType = Callable[[random.Random, int], Problem]


def _signature(rng: random.Random, difficulty: int) -> Problem:  # the shape every question type has
    raise NotImplementedError


QUESTION_TYPES: Registry[QuestionType] = Registry("demo question type", signature=_signature)


def check_difficulty(difficulty: int) -> None:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty={difficulty!r} is not valid; choose one of: {', '.join(map(str, DIFFICULTIES))}")


def boxed(answer: str | int) -> str:
    return f"\\boxed{{{answer}}}"


def listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sum_steps(terms: list[int]) -> str:
    """The arithmetic sentence adding ``terms`` (nothing to add for one term)."""
    return "" if len(terms) < 2 else f" {' + '.join(map(str, terms))} = {sum(terms)}."
