"""Labeled pairs of final answers: are they the same answer?

One table serves three purposes: the unit tests of our equivalence (every case must hold), the
comparison of symbolic graders (``tools/compare_graders.py``: math-verify vs mathruler) that justified
the choice of library, and documentation of the rules (``docs/reward.md``). Each case names the rule it
exercises. Answers are written as they appear inside ``\\boxed{}``.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    a: str
    b: str
    same: bool
    rule: str
    choices: tuple[str, ...] = ()


CASES: tuple[Case, ...] = (
    # numbers
    Case("1,000", "1000", True, "thousands separator"),
    Case("1\\,000", "1000", True, "thin-space thousands separator"),
    Case("1000.0", "1000", True, "trailing zeros"),
    Case("1e3", "1000", True, "scientific notation"),
    Case("1.5\\times10^{3}", "1500", True, "LaTeX scientific notation"),
    Case("-3", "- 3", True, "spacing"),
    Case("0.5", "\\frac{1}{2}", True, "decimal vs fraction"),
    Case("\\dfrac{3}{4}", "0.75", True, "\\dfrac"),
    Case("\\frac12", "1/2", True, "brace-less \\frac"),
    Case("\\frac{6}{8}", "\\frac{3}{4}", True, "unreduced fraction"),
    Case("0.33", "\\frac{1}{3}", False, "a rounded decimal is not the exact fraction"),
    Case("3", "3.4", False, "different numbers"),
    Case("10001", "10000", False, "large integers compare exactly"),
    Case("\\frac{\\sqrt{3}}{2}", "0.866", True, "irrational vs its decimal (rel_tol 1e-3)"),
    Case("\\frac{\\sqrt{3}}{2}", "0.87", False, "too coarse a decimal"),
    Case("2\\sqrt{3}", "\\sqrt{12}", True, "radicals"),
    Case("\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}", True, "rationalized radical"),
    Case("3\\pi", "9.4248", True, "pi"),
    Case("\\pi/2", "\\frac{\\pi}{2}", True, "pi fractions"),
    Case("50\\%", "50", True, "percent stripped (default percent=strip)"),
    Case("$12$", "12", True, "math delimiters"),
    Case("\\$12", "12", True, "currency sign"),
    # units and degrees
    Case("30^\\circ", "30", True, "degree sign"),
    Case("30°", "30^{\\circ}", True, "unicode degree sign"),
    Case("5 \\text{ cm}", "5", True, "\\text unit"),
    Case("5\\text{cm}^2", "5", True, "squared unit"),
    Case("12 square units", "12", True, "unit words"),
    Case("7 objects", "7", True, "counted nouns"),
    Case("2m", "2", False, "one-letter units need a space (2m may be 2*m)"),
    # assignments
    Case("x = 5", "5", True, "assignment"),
    Case("\\angle ABC = 40^\\circ", "40", True, "named assignment"),
    Case("x = 2 \\text{ or } x = 3", "\\{2, 3\\}", True, "solutions as a set"),
    # collections
    Case("(1, 2)", "(1,2)", True, "tuple spacing"),
    Case("(1, 2)", "(2, 1)", False, "tuples are ordered"),
    Case("\\{1, 2\\}", "\\{2, 1\\}", True, "sets are unordered"),
    Case("2, 3", "3, 2", True, "bare answer lists are sets"),
    Case("[1, 2)", "[1,2)", True, "interval spacing"),
    Case("[1, 2)", "(1, 2)", False, "interval brackets"),
    Case("(-\\infty, 3]", "(-\\infty,3]", True, "infinite interval"),
    Case("\\left[ 1, 2 \\right)", "[1, 2)", True, "\\left/\\right"),
    # multiple choice
    Case("B", "(B)", True, "choice letter spellings"),
    Case("Option B", "B.", True, "choice letter spellings"),
    Case("(B) 12", "B", True, "letter with option text"),
    Case("12", "B", True, "option text vs letter", choices=("10", "12", "13")),
    Case("13 cm", "C", True, "option text with a unit", choices=("10", "12", "13")),
    Case("B", "C", False, "different letters"),
    # words
    Case("Yes", "yes", True, "case"),
    Case("\\text{Yes}", "Yes.", True, "\\text and full stop"),
    Case("yes", "no", False, "different words"),
    # expressions in variables
    Case("2x+3", "3+2x", True, "commutativity"),
    Case("y = 2x + 3", "2x+3", True, "assignment of an expression"),
    Case("(x+1)^2", "x^2+2x+1", True, "polynomial identity"),
    Case("x^2+1", "x^2+2x+1", False, "different polynomials"),
    Case("\\frac{a}{2}b", "\\frac{ab}{2}", True, "rational expressions"),
    Case("\\sin 2x", "2\\sin x \\cos x", True, "trigonometric identity"),
    Case("\\sin^2 x + \\cos^2 x", "1", True, "identity to a constant"),
    Case("\\sin 2x", "\\cos 2x", False, "different functions"),
    # constants written with functions
    Case("\\log_2 8", "3", True, "logarithm"),
    Case("\\cos 60^\\circ", "\\frac{1}{2}", True, "trigonometry in degrees"),
    Case("\\ln e", "1", True, "natural logarithm"),
    # needs the symbolic judge
    Case("x > 3", "(3, \\infty)", True, "inequality vs interval"),
    Case("3 < x", "x>3", True, "mirrored inequality"),
    Case("x \\geq 3", "(3, \\infty)", False, "strict vs non-strict"),
    Case(
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True, "matrices"
    ),
    Case(
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}",
        False,
        "transpose",
    ),
    Case("\\sinh x", "\\frac{e^x - e^{-x}}{2}", True, "hyperbolic identity"),
)
