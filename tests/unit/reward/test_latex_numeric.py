import math
from fractions import Fraction

import pytest

from megatron_mmupt.reward.latex_numeric import NotNumeric, evaluate_function, parse_number


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("12", Fraction(12)),
        ("1,000", Fraction(1000)),
        ("1000.0", Fraction(1000)),
        ("1e3", Fraction(1000)),
        ("1.5\\times10^{3}", Fraction(1500)),
        ("\\frac{1}{2}", Fraction(1, 2)),
        ("\\frac12", Fraction(1, 2)),
        ("-\\frac{3}{4}", Fraction(-3, 4)),
        ("2^{10}", Fraction(1024)),
        ("2^-1", Fraction(1, 2)),
        ("10^{-3}", Fraction(1, 1000)),
        ("(1+2)(3)", Fraction(9)),
        ("\\sqrt[3]{27}", Fraction(3)),
        ("\\sqrt{\\frac{4}{9}}", Fraction(2, 3)),
        ("50%", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
    ],
)
def test_exact_values(text, exact):
    value = parse_number(text)
    assert value.exact == exact
    assert value.approx == pytest.approx(float(exact))


@pytest.mark.parametrize(
    ("text", "approx"),
    [
        ("\\sqrt{12}", math.sqrt(12)),
        ("2\\sqrt{3}", 2 * math.sqrt(3)),
        ("3\\pi", 3 * math.pi),
        ("\\frac{\\sqrt{3}}{2}", math.sqrt(3) / 2),
        ("\\sin 30^\\circ", 0.5),
        ("\\cos 60^{\\circ}", 0.5),
        ("\\log_2 8", 3.0),
        ("\\log 100", 2.0),
        ("\\ln e", 1.0),
        ("\\sin^2 \\frac{\\pi}{4}", 0.5),
        ("\\sin(\\frac{\\pi}{6})^2", 0.25),
        ("\\sin^{-1} 1", math.pi / 2),
        ("-\\infty", -math.inf),
    ],
)
def test_irrational_values(text, approx):
    value = parse_number(text)
    assert value.exact is None
    assert value.approx == pytest.approx(approx)


@pytest.mark.parametrize(
    "text",
    ["x", "\\sin x", "1,2", "2 3", "1/0", "\\sqrt{-1}", "10^{10000}", "(10^{400})^{400}", "\\log_{2} -1", "7" * 300],
)
def test_not_numeric(text):
    with pytest.raises(NotNumeric):
        parse_number(text)


def test_functions_compare_by_probe_values():
    same = [evaluate_function(t).values for t in ("2x+3", "3+2x", "2x + 3")]
    assert same[0] == pytest.approx(same[1])
    assert same[0] == pytest.approx(same[2])
    assert evaluate_function("(x+1)^2").values == pytest.approx(evaluate_function("x^2+2x+1").values)
    assert evaluate_function("\\sin 2x").values == pytest.approx(evaluate_function("2\\sin x \\cos x").values)
    assert evaluate_function("x^2+1").values != pytest.approx(evaluate_function("x^2+2x+1").values)
    assert evaluate_function("\\frac{a}{2}b").variables == ("a", "b")


def test_probe_points_are_distinct_per_probe():
    values = evaluate_function("x").values
    assert len(set(values)) == len(values)
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1 :]) > 0.1


@pytest.mark.parametrize("text", ["12", "3 objects", "xyz", "abcd+1", "\\sin x \\cdot \\alpha"])
def test_not_a_function(text):
    with pytest.raises(NotNumeric):
        evaluate_function(text)
