"""Perimeter and area of a labelled rectangle, picked out by its colour when there are several.

Difficulty adds rectangles (1, 2, 3) and digits: with several rectangles the model must bind each label
to its own rectangle (labels sit below and left of theirs, so a label above a rectangle is a distractor).
The solution names the rectangle's sides, then computes in small steps (``7 + 4 = 11. 2 × 11 = 22.``).
"""

from __future__ import annotations

import random

from megatron_mmupt.demo.task.problem import QUESTION_TYPES, Problem, boxed, check_difficulty
from megatron_mmupt.demo.task.scene import Rectangle, RectangleScene, rectangle_scene

SIDE_RANGES = {1: ((1, 9), (1, 9)), 2: ((2, 9), (2, 9)), 3: ((10, 15), (2, 9))}
"""Per difficulty, the ranges of a rectangle's two sides (at level 3 one side has two digits, either one)."""
NUM_RECTANGLES = {1: 1, 2: 2, 3: 3}


def _scene(rng: random.Random, difficulty: int) -> tuple[RectangleScene, Rectangle]:
    check_difficulty(difficulty)
    sides = []
    for _ in range(NUM_RECTANGLES[difficulty]):
        pair = [rng.randint(*bounds) for bounds in SIDE_RANGES[difficulty]]
        rng.shuffle(pair)
        sides.append((pair[0], pair[1]))
    scene = rectangle_scene(rng, sides)
    return scene, rng.choice(scene.rectangles)


def question_texts(scene: RectangleScene, target: Rectangle, measure: str) -> tuple[str, str]:
    """The question and the solution's first sentence."""
    if len(scene.rectangles) == 1:
        question = f"The side lengths of the rectangle are labelled. What is its {measure}?"
        name = "The rectangle"
    else:
        question = (
            f"The side lengths of the rectangles are labelled. What is the {measure} of the {target.colour} rectangle?"
        )
        name = f"The {target.colour} rectangle"
    return question, f"{name} has width {target.width} and height {target.height}."


@QUESTION_TYPES.register("perimeter")
def perimeter_question(rng: random.Random, difficulty: int) -> Problem:
    """Perimeter of a labelled rectangle; 1, 2 or 3 rectangles with ``SIDE_RANGES`` sides."""
    return perimeter_problem(*_scene(rng, difficulty), difficulty)


def perimeter_problem(scene: RectangleScene, target: Rectangle, difficulty: int) -> Problem:
    half = target.width + target.height
    question, sides = question_texts(scene, target, "perimeter")
    steps = f"{target.width} + {target.height} = {half}. 2 × {half} = {2 * half}."
    return Problem(
        question_type="perimeter",
        difficulty=difficulty,
        scene=scene,
        question=question,
        answer=str(2 * half),
        solution=f"{sides} {steps} {boxed(2 * half)}",
    )


@QUESTION_TYPES.register("area")
def area_question(rng: random.Random, difficulty: int) -> Problem:
    """Area of a labelled rectangle; same scenes as ``perimeter``."""
    return area_problem(*_scene(rng, difficulty), difficulty)


def area_problem(scene: RectangleScene, target: Rectangle, difficulty: int) -> Problem:
    area = target.width * target.height
    question, sides = question_texts(scene, target, "area")
    return Problem(
        question_type="area",
        difficulty=difficulty,
        scene=scene,
        question=question,
        answer=str(area),
        solution=f"{sides} {target.width} × {target.height} = {area}. {boxed(area)}",
    )
