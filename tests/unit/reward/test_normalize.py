import pytest

from megatron_mmupt.reward.normalize import normalize_answer, strip_assignment


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$5$", "5"),
        ("\\(5\\)", "5"),
        ("5 cm", "5"),
        ("5\\text{cm}", "5"),
        ("5 \\text{ cm}^2", "5"),
        ("3 square units", "3"),
        ("2m", "2m"),  # `2m` may be a product; one-letter units need a space
        ("2 m", "2"),
        ("30^\\circ", "30"),
        ("30^{\\circ}", "30"),
        ("30°", "30"),
        ("\\cos 60^{\\circ}", "\\cos 60^\\circ"),  # kept inside trig arguments, read as degrees later
        ("x = \\dfrac{1}{2}", "\\frac{1}{2}"),
        ("\\left(1,2\\right]", "(1,2 ]"),
        ("12.", "12"),
        ("\\text{(B)}", "(B)"),
        ("\\textbf{\\text{A}}", "A"),
        ("50\\%", "50"),
        ("\\$1{,}000", "1000"),
        ("1\\,000", "1000"),
        ("1 000 000", "1000000"),
        ("−3", "-3"),
        ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ],
)
def test_normalize(raw, expected):
    assert normalize_answer(raw) == expected


def test_percent_kept_as_ratio_when_asked():
    assert normalize_answer("50\\%", strip_percent=False) == "50%"


def test_units_can_be_disabled():
    assert normalize_answer("5 cm", units=()) == "5 cm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 5", "5"),
        ("\\angle 2 = 101", "101"),
        ("P(A) \\approx 0.3", "0.3"),
        ("y = 2x + 3", "2x + 3"),
        ("2x+3=7", "2x+3=7"),  # an equation, not an assignment
        ("a = b = c", "a = b = c"),
        ("= 5", "= 5"),
    ],
)
def test_strip_assignment(text, expected):
    assert strip_assignment(text) == expected
