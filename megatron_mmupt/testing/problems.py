"""Visual-math problem families for the synthetic responses of ``testing.responses``.

Each family draws a question with its right answer, the spellings a model uses for it, and the wrong
answers models give (each wrong answer with its own spellings); multiple-choice problems list choices.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from fractions import Fraction


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """A question with its right answer in several spellings and wrong answers that models give."""

    question: str
    answer: str
    spellings: tuple[str, ...]
    distractors: tuple[tuple[str, ...], ...]
    choices: tuple[str, ...] = ()


# --- problem families ------------------------------------------------------------------------------


def _angle(rng: random.Random) -> Problem:
    a = rng.randrange(25, 80)
    x = 180 - a
    return Problem(
        f"As shown in the figure, AB is parallel to CD and angle 1 = {a} degrees. What is the measure of angle 2?",
        str(x),
        (f"{x}", f"{x}^\\circ", f"{x}°", f"{x}^{{\\circ}}", f"{x} degrees", f"\\angle 2 = {x}^\\circ"),
        ((f"{a}", f"{a}^\\circ"), (f"{90 - a}", f"{90 - a}^\\circ"), (f"{2 * a}",)),
    )


def _hypotenuse(rng: random.Random) -> Problem:
    a = rng.randrange(2, 13)
    return Problem(
        f"The right triangle in the image has two legs of length {a}. Find the length of the hypotenuse.",
        f"{a}\\sqrt{{2}}",
        (
            f"{a}\\sqrt{{2}}",
            f"{a} \\sqrt 2",
            f"\\sqrt{{{2 * a * a}}}",
            f"{a * math.sqrt(2):.2f}",
            f"{a}\\sqrt{{2}} \\text{{ cm}}",
        ),
        ((f"{2 * a}",), (f"{a * a}",), (f"\\sqrt{{{a}}}", f"{math.sqrt(a):.2f}")),
    )


def _circle_area(rng: random.Random) -> Problem:
    r = rng.randrange(2, 11)
    return Problem(
        f"The circle in the figure has radius {r} cm. What is its area?",
        f"{r * r}\\pi",
        (
            f"{r * r}\\pi",
            f"{r * r} \\pi \\text{{ cm}}^2",
            f"{math.pi * r * r:.2f}",
            f"\\pi \\cdot {r * r}",
            f"{r * r}\\pi \\, \\text{{cm}}^2",
        ),
        ((f"{2 * r}\\pi", f"{2 * math.pi * r:.2f}"), (f"{r}\\pi",), (f"{4 * r * r}\\pi",)),
    )


def _probability(rng: random.Random) -> Problem:
    b = rng.choice([4, 5, 8, 10, 12, 16, 20])
    a = rng.randrange(1, b)
    f = Fraction(a, b)
    decimal = f"{float(f):g}"
    spellings = (f"\\frac{{{f.numerator}}}{{{f.denominator}}}", f"{f.numerator}/{f.denominator}", decimal,
                 f"\\dfrac{{{a}}}{{{b}}}", f"{float(f) * 100:g}\\%")  # fmt: skip
    wrong = Fraction(b - a, b)
    return Problem(
        f"A bag holds the {b} marbles shown; {a} of them are red. What is the probability of drawing a red marble?",
        f"\\frac{{{f.numerator}}}{{{f.denominator}}}",
        spellings,
        ((f"\\frac{{{wrong.numerator}}}{{{wrong.denominator}}}", f"{float(wrong):g}"), (f"\\frac{{1}}{{{b}}}",)),
    )


def _chart(rng: random.Random) -> Problem:
    v = rng.randrange(11, 99) / 10
    return Problem(
        "According to the bar chart, what is the value of the tallest bar (in millions)?",
        f"{v:g}",
        (f"{v:g}", f"{v:.2f}", f"{v:g} million", f"${v:g}$"),
        ((f"{v + 1:g}",), (f"{v - 0.1:.1f}",), (f"{v * 10:g}",)),
    )


def _count(rng: random.Random) -> Problem:
    n = rng.randrange(3, 15)
    return Problem(
        "How many objects in the image are either red cubes or small spheres?",
        str(n),
        (str(n), f"{n}.0", f"{n} objects"),
        ((str(n + 1),), (str(n - 1),), (str(n + 2),)),
    )


def _multiple_choice(rng: random.Random) -> Problem:
    values = rng.sample(range(4, 40), 4)
    k = rng.randrange(4)
    letter = "ABCD"[k]
    wrong = [i for i in range(4) if i != k]
    return Problem(
        "What is the perimeter of the shaded region? Choices: "
        + " ".join(f"({'ABCD'[i]}) {v}" for i, v in enumerate(values)),
        str(values[k]),
        (letter, f"({letter})", f"{letter}. {values[k]}", f"\\text{{{letter}}}", str(values[k]), f"Option {letter}"),
        tuple(("ABCD"[i], f"({'ABCD'[i]})", str(values[i])) for i in wrong),
        choices=tuple(str(v) for v in values),
    )


def _expression(rng: random.Random) -> Problem:
    a, b = rng.randrange(2, 6), rng.randrange(1, 9)
    return Problem(
        f"The line in the graph passes through (0, {b}) with slope {a}. Write its equation in terms of x.",
        f"{a}x+{b}",
        (f"{a}x+{b}", f"{a}x + {b}", f"{b}+{a}x", f"y = {a}x + {b}"),
        ((f"{a}x-{b}",), (f"{b}x+{a}",), (f"{a}x",)),
    )


def _solve(rng: random.Random) -> Problem:
    x = rng.randrange(2, 12)
    return Problem(
        f"In the diagram, the two segments are equal: 3x - {x} = 2x. Find x.",
        str(x),
        (str(x), f"x = {x}", f"x={x}", f"{x}.0"),
        ((str(-x), f"x = {-x}"), (str(2 * x),)),
    )


def _interval(rng: random.Random) -> Problem:
    lo, hi = sorted(rng.sample(range(-5, 10), 2))
    return Problem(
        "Over which interval is the function shown in the graph increasing?",
        f"[{lo}, {hi})",
        (f"[{lo}, {hi})", f"[{lo},{hi})", f"\\left[{lo}, {hi}\\right)"),
        ((f"({lo}, {hi})",), (f"[{lo}, {hi}]",), (f"(-\\infty, {hi})",)),
    )


def _large_number(rng: random.Random) -> Problem:
    n = rng.randrange(11, 99) * 100
    return Problem(
        "What was the total population shown for the two cities combined?",
        str(n),
        (f"{n:,}", str(n), f"{n / 1000:g}\\times10^{{3}}", f"{n}.0", f"{n:,} people"),
        ((str(n - 100),), (str(n // 10),), (f"{n + 1000:,}",)),
    )


def _yes_no(rng: random.Random) -> Problem:
    yes = rng.random() < 0.5
    right, wrong = ("Yes", "No") if yes else ("No", "Yes")
    return Problem(
        "Is the dark blue bar taller than the light green bar?",
        right,
        (right, right.lower(), f"\\text{{{right}}}", f"{right}."),
        ((wrong, wrong.lower()),),
    )


def _roots(rng: random.Random) -> Problem:
    p, q = sorted(rng.sample(range(1, 9), 2))
    return Problem(
        f"The parabola in the figure is y = x^2 - {p + q}x + {p * q}. Where does it cross the x-axis?",
        f"{p}, {q}",
        (f"{p}, {q}", f"{q}, {p}", f"\\{{{p}, {q}\\}}", f"x = {p} \\text{{ or }} x = {q}", f"{p} \\text{{ and }} {q}"),
        ((f"{-p}, {-q}",), (f"{p}",), (f"{p + q}",)),
    )


def _trig_identity(rng: random.Random) -> Problem:
    # Needs the symbolic judge: functions of a variable, equal only through an identity.
    k = rng.choice([2, 3])
    double = "\\sin 2x" if k == 2 else "\\sin 3x"
    expanded = "2\\sin x \\cos x" if k == 2 else "3\\sin x - 4\\sin^3 x"
    return Problem(
        f"Simplify the trigonometric expression written on the board (the multiple-angle form of sin {k}x).",
        double,
        (double, f"\\sin({k}x)", expanded),
        ((f"\\cos {k}x", f"\\cos({k}x)"), (f"{k}\\sin x",)),
    )


def _logarithm(rng: random.Random) -> Problem:
    # Needs the symbolic judge: a constant written with a function (`\log_2 8`).
    base, power = rng.choice([2, 3]), rng.randrange(2, 6)
    return Problem(
        f"The graph shows y = log base {base} of x. What is y at x = {base**power}?",
        str(power),
        (str(power), f"\\log_{base} {base**power}", f"\\log_{{{base}}}({base**power})", f"{power}.0"),
        ((str(power + 1),), (str(base**power // 2),)),
    )


def _inequality(rng: random.Random) -> Problem:
    # Needs the symbolic judge: relations, equal to intervals only through their meaning.
    a = rng.randrange(-4, 9)
    return Problem(
        f"For which x is the graphed function f(x) = x - {a} positive?",
        f"x > {a}",
        (f"x > {a}", f"x>{a}", f"{a} < x", f"({a}, \\infty)"),
        ((f"x \\geq {a}", f"[{a}, \\infty)"), (f"x < {a}", f"(-\\infty, {a})")),
    )


def _matrix(rng: random.Random) -> Problem:
    # Needs the symbolic judge: matrices in the notations models use.
    a, b, c, d = (rng.randrange(-5, 10) for _ in range(4))

    def matrix(env: str, p: int, q: int, r: int, s: int) -> str:
        return f"\\begin{{{env}}} {p} & {q} \\\\ {r} & {s} \\end{{{env}}}"

    return Problem(
        "The figure shows the linear map as a grid transformation. Write its matrix.",
        matrix("pmatrix", a, b, c, d),
        (matrix("pmatrix", a, b, c, d), matrix("bmatrix", a, b, c, d)),
        ((matrix("pmatrix", a, c, b, d),), (matrix("pmatrix", d, b, c, a),)),
    )


FAMILIES: tuple[Callable[[random.Random], Problem], ...] = (
    _angle, _hypotenuse, _circle_area, _probability, _chart, _count, _multiple_choice,
    _expression, _solve, _interval, _large_number, _yes_no, _roots, _trig_identity, _logarithm,
    _inequality, _matrix,
)  # fmt: skip
