"""The demo task's problems: deterministic, balanced, and right by construction.

Answers are recomputed here from the scene and the question *text* (parsed with this file's own regexes),
never with the generator's formatting code: a question that says "red circles" while the generator
counted blue ones fails.
"""

import random
import re

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.demo.task import DIFFICULTIES, QUESTION_TYPE_NAMES, QUESTION_TYPES, DemoTask
from megatron_mmupt.demo.task.choice import choice_problem
from megatron_mmupt.demo.task.number_questions import add_problem
from megatron_mmupt.demo.task.scene import DrawnNumber, NumberScene, Placement, RectangleScene, ShapeScene
from megatron_mmupt.reward.answer_extraction import extract_answer

GROUP = r"(?:(red|green|blue) )?(circles|squares|triangles|shapes)"
COUNT = re.compile(rf"How many {GROUP} are there\?")
COMPARE = re.compile(rf"Are there more {GROUP} or {GROUP}\?")
RECTANGLE = re.compile(
    r"The side lengths of the rectangles? are labelled\. "
    r"What is (?:its (area|perimeter)|the (area|perimeter) of the (red|green|blue) rectangle)\?"
)
OPTION = re.compile(r"\(([A-D])\) (\d+)")
NUM_ROWS = 180  # 10 of every (type, difficulty) pair


def count_in(scene: ShapeScene, colour: str | None, noun: str) -> int:
    kind = None if noun == "shapes" else noun.removesuffix("s")
    return sum((colour is None or s.colour == colour) and (kind is None or s.kind == kind) for s in scene.shapes)


def expected_answer(question: str, scene) -> str:
    """The answer of a non-choice question, from the scene and the question's words."""
    if m := COUNT.fullmatch(question):
        return str(count_in(scene, *m.groups()))
    if m := COMPARE.fullmatch(question):
        colour_a, noun_a, colour_b, noun_b = m.groups()
        a, b = count_in(scene, colour_a, noun_a), count_in(scene, colour_b, noun_b)
        assert a != b, f"a compare question with a tie: {question}"
        words = (colour_a, colour_b) if colour_a != colour_b else (noun_a, noun_b)
        return words[0] if a > b else words[1]
    if question == "What is the sum of the two numbers in the image?":
        assert isinstance(scene, NumberScene) and len(scene.numbers) == 2
        return str(sum(n.value for n in scene.numbers))
    if m := RECTANGLE.fullmatch(question):
        measure, colour = m.group(1) or m.group(2), m.group(3)
        assert (colour is None) == (len(scene.rectangles) == 1)
        (target,) = [r for r in scene.rectangles if colour is None or r.colour == colour]
        return str(2 * (target.width + target.height) if measure == "perimeter" else target.width * target.height)
    raise AssertionError(f"unknown question form: {question!r}")


@pytest.fixture(scope="module")
def problems(task):
    return list(task.problems(seed=3, split="train", num=NUM_ROWS))


def test_same_seed_same_problems_and_rows_are_prefix_stable(task, problems):
    assert list(task.problems(seed=3, split="train", num=NUM_ROWS)) == problems
    assert list(task.problems(seed=3, split="train", num=20)) == problems[:20]
    assert task.problem(3, "train", 57) == problems[57]
    assert list(task.problems(seed=4, split="train", num=20)) != problems[:20]
    assert list(task.problems(seed=3, split="test", num=20)) != problems[:20]


def test_every_question_type_and_difficulty_appears_equally(problems):
    pairs = [(p.question_type, p.difficulty) for p in problems]
    assert {(t, d): pairs.count((t, d)) for t, d in set(pairs)} == {
        (t, d): NUM_ROWS // 18 for t in QUESTION_TYPE_NAMES for d in DIFFICULTIES
    }


def test_answers_are_right_by_construction(problems):
    for p in problems:
        if p.question_type == "choice":
            base_question, listed = p.question.split("\nChoices:\n")
            options = OPTION.findall(listed)
            assert [text for _, text in options] == list(p.choices) and len(set(p.choices)) == 4
            assert dict(options)[p.answer] == expected_answer(base_question, p.scene), p
        else:
            assert p.choices == ()
            assert p.answer == expected_answer(p.question, p.scene), p


def test_solutions_box_the_answer_as_the_reward_stage_reads_it(problems):
    for p in problems:
        extraction = extract_answer(p.solution)
        assert extraction.answer == p.answer, p.solution
        assert p.solution.count("\\boxed") == 1


def test_difficulty_changes_the_numbers():
    def digits(difficulty):
        scenes = [QUESTION_TYPES.get("add")(random.Random(i), difficulty).scene for i in range(30)]
        return {tuple(sorted(len(str(n.value)) for n in s.numbers)) for s in scenes}

    assert digits(1) == {(1, 1)} and digits(2) == {(1, 2)} and digits(3) == {(2, 2)}


def test_shape_questions_grow_with_difficulty(problems):
    sizes = {
        d: [len(p.scene.shapes) for p in problems if p.question_type == "count" and p.difficulty == d]
        for d in DIFFICULTIES
    }
    assert max(sizes[1]) <= 4 and min(sizes[3]) >= 5


def test_choice_problem_refuses_options_without_the_answer():
    scene = NumberScene((DrawnNumber(2, Placement(row=0, col=0)), DrawnNumber(3, Placement(row=1, col=1))))
    base = add_problem(scene, difficulty=1)
    with pytest.raises(ValueError, match="including '5'"):
        choice_problem(base, ("1", "2", "3", "4"))
    chosen = choice_problem(base, ("4", "5", "6", "7"))
    assert chosen.answer == "B" and chosen.solution.endswith("5 is option (B). \\boxed{B}")


def test_rows_carry_the_schema(task):
    row = next(task.rows(seed=0, split="test", num=1))
    assert row["id"] == "demo-test-000000"
    assert row["question"].startswith("<image>") and row["question"].count("<image>") == 1
    assert row["images"][0]["path"] is None and row["images"][0]["bytes"].startswith(b"\x89PNG")
    assert isinstance(row["difficulty"], int) and isinstance(row["choices"], list)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 100}, "multiple of 28"),
        ({"image_size": 28}, "out of range"),
        ({"question_types": ("count", "sum")}, "question_types='sum' is not valid"),
        ({"question_types": ()}, "must not be empty"),
        ({"difficulties": (1, 4)}, "difficulties=4 is not valid"),
        ({"difficulties": (1, 1)}, "twice"),
    ],
)
def test_bad_config_names_the_key(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        DemoTask.Config(**kwargs)


def test_a_subset_of_types_and_difficulties():
    task = DemoTask.Config(question_types=("area",), difficulties=(2,)).build()
    assert {(p.question_type, p.difficulty) for p in task.problems(0, "train", 5)} == {("area", 2)}
    assert isinstance(task.problem(0, "train", 0).scene, RectangleScene)
