"""Questions about coloured shapes: counting them and comparing counts.

Solutions name the relevant groups in a fixed order (colours red, green, blue; kinds circle, square,
triangle), then do the arithmetic: a canonical chain of thought is easier for a tiny model to learn, and
its errors are perception errors that differ between samples (what majority voting can fix).
"""

from __future__ import annotations

import random

from megatron_mmupt.demo.task.problem import (
    QUESTION_TYPES,
    Problem,
    boxed,
    check_difficulty,
    listing,
    sum_steps,
)
from megatron_mmupt.demo.task.scene import COLOURS, KINDS, Colour, Kind, ShapeScene, shape_scene


def group_name(colour: Colour | None, kind: Kind | None, count: int = 2) -> str:
    """``red circles``, ``blue shapes``, ``triangles``; singular when ``count`` is 1."""
    noun = "shape" if kind is None else kind.value
    return " ".join([*([colour.value] if colour is not None else []), noun if count == 1 else f"{noun}s"])


def group_text(count: int, colour: Colour | None, kind: Kind | None) -> str:
    """``1 red circle``, ``2 red circles``, ``3 blue shapes``, ``2 triangles``."""
    return f"{count} {group_name(colour, kind, count)}"


@QUESTION_TYPES.register("count")
def count_question(rng: random.Random, difficulty: int) -> Problem:
    """How many shapes of a colour and/or kind are there.

    1: 1-4 shapes, all of one colour and kind; asks for the kind.
    2: 3-7 shapes over 2 colours x 2 kinds; asks for one colour or one kind.
    3: 5-10 shapes over 3 colours x 3 kinds; asks for one colour and one kind.
    """
    check_difficulty(difficulty)
    if difficulty == 1:
        colour, kind = rng.choice(COLOURS), rng.choice(KINDS)
        attributes = [(colour, kind)] * rng.randint(1, 4)
    else:
        num_each, low, high = (2, 3, 7) if difficulty == 2 else (3, 5, 10)
        colours, kinds = rng.sample(COLOURS, num_each), rng.sample(KINDS, num_each)
        attributes = [(rng.choice(colours), rng.choice(kinds)) for _ in range(rng.randint(low, high))]
    scene = shape_scene(rng, attributes)
    # Ask about a shape that is there, so the answer is at least 1.
    colour, kind = rng.choice(attributes)
    if difficulty == 1:
        colour = None
    elif difficulty == 2:
        colour, kind = (colour, None) if rng.random() < 0.5 else (None, kind)
    return count_problem(scene, difficulty, colour, kind)


def count_problem(scene: ShapeScene, difficulty: int, colour: Colour | None, kind: Kind | None) -> Problem:
    answer = scene.count(colour, kind)
    subject = group_name(colour, kind)
    if colour is not None and kind is not None:
        # Name the colour's groups, then pick the asked one out of them.
        groups = [group_text(n, colour, k) for k in KINDS if (n := scene.count(colour, k))]
        reasoning = (
            f"I see {listing(groups)}. So there {'is' if answer == 1 else 'are'} {group_text(answer, colour, kind)}."
        )
    else:
        # One attribute asked: its groups split by the other attribute, then summed.
        split = [(c, kind) for c in COLOURS] if colour is None else [(colour, k) for k in KINDS]
        counts = [(n, c, k) for c, k in split if (n := scene.count(c, k))]
        groups = [group_text(n, c, k) for n, c, k in counts]
        reasoning = f"I see {listing(groups)}.{sum_steps([n for n, _, _ in counts])}"
    return Problem(
        question_type="count",
        difficulty=difficulty,
        scene=scene,
        question=f"How many {subject} are there?",
        answer=str(answer),
        solution=f"{reasoning} {boxed(answer)}",
    )


@QUESTION_TYPES.register("compare")
def compare_question(rng: random.Random, difficulty: int) -> Problem:
    """Which of two groups has more shapes; the answer is the group's colour or kind word.

    1: two colours of one kind, counts 1-6 that differ by at least 2 ("red" vs "blue" circles).
    2: two colours over two kinds, 2-6 shapes per colour, differing by at least 1 ("red" vs "blue" shapes).
    3: two kinds over three colours, 1-5 each, differing by 1 or 2, plus 0-3 shapes of the third kind
       ("circles" vs "triangles").
    """
    check_difficulty(difficulty)
    first, second = _unequal_counts(rng, difficulty)
    if difficulty == 3:
        kind_a, kind_b, other = rng.sample(KINDS, 3)
        kinds = [kind_a] * first + [kind_b] * second + [other] * rng.randint(0, 3)
        scene = shape_scene(rng, [(rng.choice(COLOURS), k) for k in kinds])
        groups = [(None, kind_a), (None, kind_b)]
    else:
        colour_a, colour_b = rng.sample(COLOURS, 2)
        kinds = [rng.choice(KINDS)] if difficulty == 1 else rng.sample(KINDS, 2)
        colours = [colour_a] * first + [colour_b] * second
        scene = shape_scene(rng, [(c, rng.choice(kinds)) for c in colours])
        groups = [(colour_a, kinds[0] if difficulty == 1 else None), (colour_b, kinds[0] if difficulty == 1 else None)]
    return compare_problem(scene, difficulty, groups)


def _unequal_counts(rng: random.Random, difficulty: int) -> tuple[int, int]:
    low, high, min_gap, max_gap = {1: (1, 6, 2, 5), 2: (2, 6, 1, 4), 3: (1, 5, 1, 2)}[difficulty]
    while True:
        a, b = rng.randint(low, high), rng.randint(low, high)
        if min_gap <= abs(a - b) <= max_gap:
            return a, b


def compare_problem(scene: ShapeScene, difficulty: int, groups: list[tuple[Colour | None, Kind | None]]) -> Problem:
    (colour_a, kind_a), (colour_b, kind_b) = groups
    a, b = scene.count(colour_a, kind_a), scene.count(colour_b, kind_b)
    if a == b:
        raise ValueError(f"compare groups must differ in size, got {a} and {b}")
    name_a, name_b = (group_name(c, k) for c, k in groups)
    # The answer is the word that tells the groups apart: the colour ("red") or the kind ("circles").
    word_a, word_b = (c.value if colour_a != colour_b else k.plural for c, k in groups)
    answer, larger = (word_a, name_a) if a > b else (word_b, name_b)
    # Larger count first, then the group it belongs to: the decision is one comparison of two numbers the
    # model just wrote, and the group and answer words are copies of text in context. (A first probe, with
    # "2 is less than 5." before the answer, read the counts but picked the answer word at chance.)
    reasoning = (
        f"I see {group_text(a, colour_a, kind_a)} and {group_text(b, colour_b, kind_b)}. "
        f"{max(a, b)} is more than {min(a, b)}, so there are more {larger}."
    )
    return Problem(
        question_type="compare",
        difficulty=difficulty,
        scene=scene,
        question=f"Are there more {name_a} or {name_b}?",
        answer=answer,
        solution=f"{reasoning} {boxed(answer)}",
    )
