"""Every question the demo task's grammar asks about a scene: what a question writer may write for an image.

An instruction-tuned model can already write a question about an image; the demo model learns it during its
warm-up (``demo.sft.writing_split``): given an image (and, in context, that image's question as an
example) it writes another question about the same scene. Its targets come from here, so every written
question is one the task could have asked; which of them the model writes well, and answers consistently,
is what synthesis measures.

    scene_problems(problem)   # the problem's own question and every other one about its scene
"""

from __future__ import annotations

import itertools
import random

from megatron_mmupt.demo.task.choice import NUM_CHOICES, choice_problem, near_misses
from megatron_mmupt.demo.task.number_questions import add_problem
from megatron_mmupt.demo.task.problem import Problem
from megatron_mmupt.demo.task.rectangle_questions import area_problem, perimeter_problem
from megatron_mmupt.demo.task.scene import COLOURS, KINDS, NumberScene, RectangleScene, ShapeScene
from megatron_mmupt.demo.task.shape_questions import compare_problem, count_problem


def scene_problems(problem: Problem) -> tuple[Problem, ...]:
    """Problems about ``problem``'s scene, one per distinct question, in a fixed order (its own included)."""
    scene, difficulty = problem.scene, problem.difficulty
    if isinstance(scene, ShapeScene):
        found = _shape_problems(scene, difficulty)
    elif isinstance(scene, NumberScene):
        found = [add_problem(scene, difficulty)]  # two numbers: their sum is the only question
    elif isinstance(scene, RectangleScene):
        found = [build(scene, r, difficulty) for build in (perimeter_problem, area_problem) for r in scene.rectangles]
    else:
        raise TypeError(f"no questions are defined for a {type(scene).__name__}")
    unique: dict[str, Problem] = {}
    for candidate in (problem, *found):
        unique.setdefault(candidate.question, candidate)
    return tuple(unique.values())


def _shape_problems(scene: ShapeScene, difficulty: int) -> list[Problem]:
    counts = [
        count_problem(scene, difficulty, colour, kind)
        for colour in (None, *COLOURS)
        for kind in (None, *KINDS)
        if (colour or kind) and scene.count(colour, kind)  # the task never asks for an absent group
    ]
    groups = [[(a, kind), (b, kind)] for kind in (None, *KINDS) for a, b in itertools.combinations(COLOURS, 2)]
    groups += [[(None, a), (None, b)] for a, b in itertools.combinations(KINDS, 2)]
    compares = [compare_problem(scene, difficulty, g) for g in groups if _unequal_and_present(scene, g)]
    return counts + compares + [_with_options(p) for p in counts]


def _unequal_and_present(scene: ShapeScene, groups: list) -> bool:
    a, b = (scene.count(colour, kind) for colour, kind in groups)
    return a > 0 and b > 0 and a != b


def _with_options(base: Problem) -> Problem:
    """The multiple-choice variant, its options drawn from a generator seeded by the question (reproducible)."""
    rng = random.Random(f"megatron-mmupt-demo/options/{base.question}/{base.answer}")
    right = int(base.answer)
    options = [right, *rng.sample(near_misses(right), NUM_CHOICES - 1)]
    rng.shuffle(options)
    return choice_problem(base, tuple(str(o) for o in options))
