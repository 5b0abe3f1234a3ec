"""Synthetic groups of chain-of-thought responses to visual-math questions, for tests, the demo and benchmarks.

No model or hub is reachable on the machines this project is tested on, so this generator writes
responses in the style of a multimodal model's reasoning: paragraphs of prose and LaTeX, a final
``\\boxed{}`` answer in the many spellings models use (``130``, ``130^\\circ``, ``130 degrees``,
``\\angle 2 = 130^\\circ``), wrong answers drawn from plausible distractors, and the failure modes of
real generations: truncated responses without an answer, "The answer is X" without a box,
intermediate boxes, nested boxes, empty boxes. They are synthetic, not outputs of a real model.

Every group carries its ground truth, so the reward's diagnostics can be checked against it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator

from megatron_mmupt.testing.problems import FAMILIES, Problem


@dataclasses.dataclass(frozen=True, slots=True)
class ResponseRow:
    """One line of a responses file (the input format of ``megatron-mmupt score``)."""

    prompt_id: str
    question: str
    response: str
    answer: str
    choices: tuple[str, ...]

    def to_json(self) -> dict:
        row = {"prompt_id": self.prompt_id, "question": self.question, "response": self.response, "answer": self.answer}
        if self.choices:
            row["choices"] = list(self.choices)
        return row


_OPENERS = (
    "Looking at the image, we need to identify the relevant quantities first.",
    "Let me analyze the figure step by step.",
    "To solve this problem, I will examine the diagram carefully.",
    "First, let's extract the information given in the image.",
    "We start by reading the labels in the figure.",
)
_STEPS = (
    "By the Pythagorean theorem, $c = \\sqrt{{a^2 + b^2}}$, so we substitute $a = {n1}$ and $b = {n2}$.",
    "Since the two lines are parallel, the alternate interior angles are equal: $\\angle 1 = \\angle 3 = {n1}^\\circ$.",
    "The sum of the angles in a triangle is $180^\\circ$, hence $\\angle A + \\angle B + \\angle C = 180^\\circ$.",
    "We compute $\\frac{{{n1}}}{{{n2}}} \\cdot {n3} = {frac}$, which simplifies nicely.",
    "The area of a circle is given by $A = \\pi r^2$, and here $r = {n1}$.",
    "Reading the chart, the bar for {word} reaches approximately {n1}.{n2} on the vertical axis.",
    "\\[ {n1}x + {n2} = {n3} \\implies x = \\frac{{{n3} - {n2}}}{{{n1}}} \\]",
    "Counting carefully, there are {n1} {word} objects and {n2} other objects in the scene.",
    "Note that $\\left( {n1} + {n2} \\right)^2 = {sq}$ and $\\sqrt{{{sq}}} = {sum}$.",
    "The probability is the ratio of favorable outcomes to total outcomes: $P = \\frac{{{n1}}}{{{n3}}}$.",
    "If we apply the formula $\\frac{{1}}{{2}} b h$ with $b = {n1}$ and $h = {n2}$, we get ${half}$.",
    "Wait, let me double-check this step: ${n1} \\times {n2} = {prod}$, which is consistent with the figure.",
    "Using the properties of similar triangles, $\\frac{{AB}}{{DE}} = \\frac{{BC}}{{EF}} = \\frac{{{n1}}}{{{n2}}}$.",
    "The interval where the graph rises is between $x = {n1}$ and $x = {n3}$, including the left endpoint.",
)
_WORDS = ("red", "blue", "green", "metal", "rubber", "cylinder", "sphere", "cube", "Monday", "2019")
_CLOSERS = (
    "Therefore, the answer is {box}.",
    "So the final answer is {box}.",
    "Thus, {box}.",
    "Hence the required value is {box}",
    "The answer is {box}.\n\nI hope this helps!",
)

_UNANSWERED, _UNBOXED, _NESTED, _EMPTY, _INTERMEDIATE, _FBOX = 0.06, 0.03, 0.01, 0.005, 0.03, 0.005


def _step(rng: random.Random) -> str:
    n1, n2, n3 = rng.randrange(2, 30), rng.randrange(2, 30), rng.randrange(30, 90)
    return rng.choice(_STEPS).format(
        n1=n1, n2=n2, n3=n3, frac=round(n1 / n2 * n3, 2), sq=(n1 + n2) ** 2, sum=n1 + n2,
        half=n1 * n2 / 2, prod=n1 * n2, word=rng.choice(_WORDS),
    )  # fmt: skip


def _reasoning(rng: random.Random, num_steps: int) -> str:
    paragraphs = [rng.choice(_OPENERS)]
    for i in range(num_steps):
        paragraphs.append(f"Step {i + 1}: {_step(rng)}" if rng.random() < 0.4 else _step(rng))
    return "\n\n".join(paragraphs)


def _pick_answer(rng: random.Random, problem: Problem, accuracy: float) -> str:
    if rng.random() < accuracy or not problem.distractors:
        options = problem.spellings
    else:
        # Wrong answers concentrate on the first distractor, so wrong majorities happen as with real models.
        weights = [0.6] + [0.4 / max(1, len(problem.distractors) - 1)] * (len(problem.distractors) - 1)
        options = rng.choices(problem.distractors, weights=weights[: len(problem.distractors)])[0]
    # The first spelling is the model's habit; the others are occasional.
    return options[0] if rng.random() < 0.55 else rng.choice(options)


def write_response(rng: random.Random, problem: Problem, accuracy: float, num_steps: int) -> str:
    """One response: reasoning, then the final answer in one of the styles models produce."""
    text = _reasoning(rng, num_steps)
    roll = rng.random()
    if roll < _UNANSWERED:  # cut off by the length limit, mid-sentence
        return text[: max(40, int(len(text) * rng.uniform(0.5, 0.95)))]
    answer = _pick_answer(rng, problem, accuracy)
    roll -= _UNANSWERED
    if roll < _UNBOXED:
        return f"{text}\n\nThe answer is {answer}."
    roll -= _UNBOXED
    if roll < _EMPTY:
        return f"{text}\n\nTherefore, the answer is \\boxed{{}}."
    roll -= _EMPTY
    box = f"\\boxed{{{answer}}}"
    if roll < _NESTED:
        box = f"\\boxed{{\\boxed{{{answer}}}}}"
    elif roll < _NESTED + _FBOX:
        box = f"\\fbox{{{answer}}}"
    elif roll < _NESTED + _FBOX + _INTERMEDIATE:
        text += f"\n\nAn intermediate result is $\\boxed{{{rng.randrange(2, 50)}}}$, which we use next."
    return f"{text}\n\n{rng.choice(_CLOSERS).format(box=box)}"


def generate_rows(
    num_prompts: int, group_size: int, *, seed: int = 0, min_steps: int = 3, max_steps: int = 14
) -> Iterator[ResponseRow]:
    """``num_prompts`` groups of ``group_size`` responses, deterministic in ``seed``.

    Each prompt draws an accuracy in [0.15, 0.95] (the chance a sample answers it right), so
    groups range from near-unanimous to split, as on a real training set.
    """
    rng = random.Random(seed)
    for index in range(num_prompts):
        problem = FAMILIES[index % len(FAMILIES)](rng)
        accuracy = rng.uniform(0.15, 0.95)
        prompt_id = f"p{index:05d}"
        for _ in range(group_size):
            response = write_response(rng, problem, accuracy, rng.randint(min_steps, max_steps))
            yield ResponseRow(prompt_id, problem.question, response, problem.answer, problem.choices)
