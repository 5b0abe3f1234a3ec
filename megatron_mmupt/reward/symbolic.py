"""The symbolic part of answer equivalence, on top of HuggingFace ``math-verify``.

These functions run inside grader processes (``utils.time_limited_pool``), which bound their time:
sympy may take arbitrarily long on hostile input. They are only reached by answers that the fast
path (``latex_numeric``, ``answer_forms``) cannot decide: expressions with variables or functions
(``x^2+2x+1``, ``\\sin 30``, ``\\log_2 8``), matrices, relations.

Why math-verify rather than mathruler (the MM-UPT reference grader): see ``docs/reward.md``; in short,
on our equivalence cases it is right more often (sets, percentages, intervals), it is maintained, it
parses LaTeX with a real grammar (latex2sympy2), and it does not hang on exponent towers.
"""

from __future__ import annotations

import functools
import logging
import math
from fractions import Fraction

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

# Timeouts are enforced by the grader process around each call, so math-verify's own signal-based
# timeout is disabled (it would refuse to run outside a main thread) and its warning is silenced.
logging.getLogger("math_verify").setLevel(logging.ERROR)
_EXTRACTION = (LatexExtractionConfig(), ExprExtractionConfig())

Value = tuple[str, object]
"""A real value on the wire: ``("rational", (p, q))`` or ``("real", float)`` (``inf`` allowed)."""
Analysis = tuple[str, object]
"""``Value``, ``("interval", (low: Value, high: Value, brackets))``, ``("matrix", (rows, cols, entries: tuple[Value]))``,
``("expr", canonical_str)`` or ``("unparsed", None)``."""


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple:
    # Cached: the pairs sent to `equivalent` are made of answers `analyze` has just parsed.
    return tuple(parse(f"${text}$", extraction_config=list(_EXTRACTION), parsing_timeout=None))


def _value(expr: sympy.Basic) -> Value | None:
    if expr in (sympy.oo, -sympy.oo):
        return "real", float(expr)
    if not (getattr(expr, "is_number", False) and not expr.free_symbols):
        return None
    if expr.is_Rational:
        value = Fraction(int(expr.p), int(expr.q))
        return "rational", (value.numerator, value.denominator)
    number = complex(expr.evalf(20))
    if abs(number.imag) <= 1e-12 * max(1.0, abs(number.real)) and math.isfinite(number.real):
        return "real", number.real
    return None


_OPEN_BELOW = {">": True, ">=": False}  # `x > a` is (a, oo); `x >= a` is [a, oo)
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _linear_solution(expr: sympy.Basic, variable: sympy.Symbol) -> sympy.Basic | None:
    """``a x + b  op  0`` solved from its coefficients: 1000x faster than the general solver."""
    op = expr.rel_op
    if op not in _MIRROR:
        return None
    poly = sympy.Poly(expr.lhs - expr.rhs, variable)
    if poly.degree() != 1:
        return None
    a, b = poly.all_coeffs()
    if not (a.is_number and b.is_number) or a == 0:
        return None
    root = -b / a
    if a < 0:
        op = _MIRROR[op]
    if op in _OPEN_BELOW:
        return sympy.Interval(root, sympy.oo, left_open=_OPEN_BELOW[op], right_open=True)
    return sympy.Interval(-sympy.oo, root, left_open=True, right_open=op == "<")


def _interval(expr: sympy.Basic) -> Analysis | None:
    """A relation in one variable (``x > 3``, ``3 < x``) as its solution interval, so it meets ``(3, \\infty)``."""
    if isinstance(expr, sympy.core.relational.Relational) and len(expr.free_symbols) == 1:
        (variable,) = expr.free_symbols
        try:
            solution = _linear_solution(expr, variable)
            if solution is None:
                solution = sympy.solve_univariate_inequality(expr, variable, relational=False)
        except (NotImplementedError, ValueError, TypeError, sympy.PolynomialError):
            return None
        expr = solution
    if not isinstance(expr, sympy.Interval):
        return None
    low, high = _value(expr.start), _value(expr.end)
    if low is None or high is None:
        return None
    return "interval", (low, high, ("(" if expr.left_open else "[") + (")" if expr.right_open else "]"))


def _matrix(expr: object) -> Analysis | None:
    """A matrix of numbers as its shape and entries, so matrices compare entry by entry, not by sympy."""
    if not isinstance(expr, sympy.MatrixBase):
        return None
    entries = tuple(_value(sympy.sympify(e)) for e in expr)
    if any(e is None for e in entries):
        return None
    return "matrix", (expr.rows, expr.cols, entries)


def analyze(text: str) -> Analysis:
    """Parse one answer: its value when it is a real constant, its interval when it is one (or a relation
    in one variable), else a canonical string of its expression."""
    parsed = _parse(text)
    if not parsed:
        return "unparsed", None
    expr = parsed[0]
    found = _matrix(expr) or (_value(expr) or _interval(expr) if isinstance(expr, sympy.Basic) else None)
    if found is not None:
        return found
    try:
        return "expr", sympy.srepr(expr)
    except Exception:  # srepr of exotic objects (matrices of relations) may fail; the text still identifies it
        return "expr", str(expr)


def equivalent(pair: tuple[str, str]) -> bool:
    """Whether two answers are the same mathematical object (math-verify, in either direction)."""
    a, b = (_parse(x) for x in pair)
    if not a or not b:
        return False
    return bool(verify(a, b, timeout_seconds=None) or verify(b, a, timeout_seconds=None))


def _warm_up() -> None:
    # The first parse builds latex2sympy's ANTLR machinery (~1 s): pay it when the grader process
    # starts, not inside the first reward batch.
    equivalent(("x^2+2x+1", "(x+1)^2"))
    analyze("\\sqrt{2}")


if __name__ != "__main__":
    _warm_up()
