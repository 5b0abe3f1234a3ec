"""Adding the two numbers written in the image.

The solution reads the numbers in reading order, then adds them (``The numbers are 47 and 4. 47 + 4 = 51.``).
Digits are single tokens in our tokenizer (as in Qwen2's), so the sum is digit-level work for the model,
harder with two-digit numbers: that is what difficulty adds.
"""

from __future__ import annotations

import random

from megatron_mmupt.demo.task.problem import QUESTION_TYPES, Problem, boxed, check_difficulty
from megatron_mmupt.demo.task.scene import NumberScene, number_scene

ADD_RANGES = {1: ((1, 9), (1, 9)), 2: ((10, 49), (1, 9)), 3: ((10, 99), (10, 99))}
"""Per difficulty, the ranges the two addends are drawn from."""


@QUESTION_TYPES.register("add")
def add_question(rng: random.Random, difficulty: int) -> Problem:
    """The sum of the two numbers drawn: 1-digit + 1-digit (1), 2-digit + 1-digit (2), 2-digit + 2-digit (3)."""
    check_difficulty(difficulty)
    values = [rng.randint(*bounds) for bounds in ADD_RANGES[difficulty]]
    rng.shuffle(values)
    return add_problem(number_scene(rng, values), difficulty)


def add_problem(scene: NumberScene, difficulty: int) -> Problem:
    a, b = scene.values
    return Problem(
        question_type="add",
        difficulty=difficulty,
        scene=scene,
        question="What is the sum of the two numbers in the image?",
        answer=str(a + b),
        solution=f"The numbers are {a} and {b}. {a} + {b} = {a + b}. {boxed(a + b)}",
    )
