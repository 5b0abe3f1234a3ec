"""The multiple-choice variant: a counting question with four options, answered by letter.

The options are the right answer and three near misses (off by 1 to 5, never negative), in random
order. Only counting questions get options: their answers are mostly one digit, so finding the letter of
the computed answer is a one-token lookup. With two- and three-digit options (sums, areas) a 2-layer probe
model, which solved the underlying questions, still picked letters at chance after 2000 SFT steps.

The question lists the options as the data stage's prompt renderer would (``\\nChoices:\\n(A) 4\\n(B) 5``),
so the rendered prompt is the same whether or not it appends choices; the ``choices`` column carries the
option texts, which lets the reward stage map an answer written as ``5`` to its letter.
"""

from __future__ import annotations

import random

from megatron_mmupt.demo.task.problem import QUESTION_TYPES, Problem, boxed, check_difficulty

NUM_CHOICES = 4
LETTERS = "ABCD"
BASE_TYPES = ("count",)
"""Question types that get options (see the module docstring; compare already is a two-way choice)."""


@QUESTION_TYPES.register("choice")
def choice_question(rng: random.Random, difficulty: int) -> Problem:
    """A ``BASE_TYPES`` question of the same difficulty with options; the answer is the option letter."""
    check_difficulty(difficulty)
    base = QUESTION_TYPES.get(rng.choice(BASE_TYPES))(rng, difficulty)
    right = int(base.answer)
    options = [right, *rng.sample(near_misses(right), NUM_CHOICES - 1)]
    rng.shuffle(options)
    return choice_problem(base, tuple(str(o) for o in options))


def near_misses(answer: int) -> list[int]:
    """Wrong answers a model plausibly gives: off by 1 to 5, never negative (at least 5 of them)."""
    return [answer + d for d in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5) if answer + d >= 0]


def choice_problem(base: Problem, choices: tuple[str, ...]) -> Problem:
    if len(choices) != NUM_CHOICES or len(set(choices)) != NUM_CHOICES or base.answer not in choices:
        raise ValueError(f"choices {choices!r} must be {NUM_CHOICES} distinct options including {base.answer!r}")
    letter = LETTERS[choices.index(base.answer)]
    listed = "\n".join(f"({LETTERS[i]}) {option}" for i, option in enumerate(choices))
    reasoning = base.solution.removesuffix(boxed(base.answer)).rstrip()
    return Problem(
        question_type="choice",
        difficulty=base.difficulty,
        scene=base.scene,
        question=f"{base.question}\nChoices:\n{listed}",
        answer=letter,
        solution=f"{reasoning} {base.answer} is option ({letter}). {boxed(letter)}",
        choices=choices,
    )
