"""``scene_problems``: every question the demo grammar asks about a scene, each answered from the scene."""

import pytest

from megatron_mmupt.demo.task import DemoTask
from megatron_mmupt.demo.task.alternatives import scene_problems
from megatron_mmupt.demo.task.scene import ShapeScene

TASK = DemoTask.Config().build()


@pytest.mark.parametrize("index", range(36))
def test_alternatives_include_the_problem_and_are_distinct_valid_problems(index):
    problem = TASK.problem(0, "train", index)
    problems = scene_problems(problem)
    questions = [p.question for p in problems]
    assert problems[0] == problem and len(set(questions)) == len(questions)
    assert all(p.scene is problem.scene for p in problems)
    if isinstance(problem.scene, ShapeScene):
        assert {"count", "compare", "choice"} >= {p.question_type for p in problems}
        assert all(int(p.answer) >= 1 for p in problems if p.question_type == "count")  # present groups only
    else:
        assert {p.question_type for p in problems} <= {"add", "perimeter", "area"}


def test_rectangle_scenes_ask_perimeter_and_area_of_every_rectangle():
    problem = next(
        p for i in range(36) if (p := TASK.problem(0, "train", i)).question_type == "area" and p.difficulty == 3
    )
    problems = scene_problems(problem)
    assert len(problems) == 2 * len(problem.scene.rectangles) == 6
    assert {p.question_type for p in problems} == {"perimeter", "area"}


def test_multiple_choice_variants_are_reproducible():
    problem = TASK.problem(0, "train", 0)
    assert scene_problems(problem) == scene_problems(problem)
