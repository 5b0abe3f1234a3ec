"""The demo task generator: deterministic problems and dataset rows by ``(seed, split, index)``.

Row ``i`` of a split draws from its own ``random.Random("megatron-mmupt-demo/<seed>/<split>/<i>")`` (string
seeds are hashed with SHA-512 by ``random``, independent of ``PYTHONHASHSEED``): a row never depends on
how many rows are generated or in which order, so ``--num-test 100`` is a prefix of ``--num-test 1000``,
and the splits draw independently. Question types and difficulties cycle with the index, so every
``(type, difficulty)`` pair appears once in every ``len(types) * len(difficulties)`` consecutive rows.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_choice, check_range

# Importing the question modules registers their types in QUESTION_TYPES.
from megatron_mmupt.demo.task import choice, number_questions, rectangle_questions, shape_questions  # noqa: F401
from megatron_mmupt.demo.task.problem import DIFFICULTIES, QUESTION_TYPES, Problem
from megatron_mmupt.demo.task.render import png_bytes, render

IMAGE_PLACEHOLDER = "<image>"
"""Where the image goes in the question text, as in MMR1 and Geometry3K."""

QUESTION_TYPE_NAMES = ("count", "compare", "add", "perimeter", "area", "choice")
"""Every question type, in the order rows cycle through them."""

PATCH_SIZE, MERGE_SIZE = 14, 2
"""Qwen2.5-VL's vision patch and spatial merge: image sides must be multiples of 28 to stay unresized."""


class DemoTask(Configurable):
    """Visual math problems rendered with PIL: counting and comparing shapes, adding drawn numbers,
    perimeter and area of labelled rectangles, and multiple-choice counting."""

    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        image_size: int = 112
        """Side of the square images in pixels, a multiple of 28. 112 gives 16 merged vision tokens
        (one per grid cell), 224 gives 64."""
        question_types: tuple[str, ...] = QUESTION_TYPE_NAMES
        """Question types to generate (registry ``demo question type``)."""
        difficulties: tuple[int, ...] = DIFFICULTIES
        """Difficulty levels to generate."""

        def __post_init__(self) -> None:
            check_range("image_size", self.image_size, 56, 448)
            if self.image_size % (PATCH_SIZE * MERGE_SIZE):
                raise ConfigError(f"image_size={self.image_size} must be a multiple of {PATCH_SIZE * MERGE_SIZE}")
            _check_subset("question_types", self.question_types, QUESTION_TYPES.names())
            _check_subset("difficulties", self.difficulties, DIFFICULTIES)

    def __init__(self, config: Config) -> None:
        self.config = config
        self.combinations = [(t, d) for t in config.question_types for d in config.difficulties]

    @property
    def image_tokens(self) -> int:
        """Merged vision tokens per image: ``(image_size / 28)^2``."""
        return (self.config.image_size // (PATCH_SIZE * MERGE_SIZE)) ** 2

    def problem(self, seed: int, split: str, index: int) -> Problem:
        """Row ``index`` of ``split``; the same arguments always give the same problem."""
        rng = random.Random(f"megatron-mmupt-demo/{seed}/{split}/{index}")
        question_type, difficulty = self.combinations[index % len(self.combinations)]
        return QUESTION_TYPES.get(question_type)(rng, difficulty)

    def problems(self, seed: int, split: str, num: int) -> Iterator[Problem]:
        for index in range(num):
            yield self.problem(seed, split, index)

    def row(self, problem: Problem, row_id: str) -> dict[str, Any]:
        """One dataset row (schema: ``dataset.features()``), with the image rendered and PNG-encoded."""
        image = render(problem.scene, self.config.image_size)
        return {
            "id": row_id,
            "question": IMAGE_PLACEHOLDER + problem.question,
            "images": [{"bytes": png_bytes(image), "path": None}],
            "answer": problem.answer,
            "choices": list(problem.choices),
            "question_type": problem.question_type,
            "difficulty": problem.difficulty,
            "solution": problem.solution,
        }

    def rows(self, seed: int, split: str, num: int) -> Iterator[dict[str, Any]]:
        for index, problem in enumerate(self.problems(seed, split, num)):
            yield self.row(problem, f"demo-{split}-{index:06d}")


def _check_subset(key: str, values: tuple, allowed: tuple) -> None:
    if not values:
        raise ConfigError(f"{key} must not be empty; choose from: {', '.join(map(str, allowed))}")
    if len(set(values)) != len(values):
        raise ConfigError(f"{key}={values!r} lists a value twice")
    for value in values:
        check_choice(key, value, allowed)
