"""A small, exact evaluator for the numeric answers that make up most of visual-math benchmarks.

It reads plain and LaTeX arithmetic: integers, decimals, ``1,000``, ``1e3``, ``1.5\\times10^{3}``,
``a/b``, ``\\frac{a}{b}``, ``\\sqrt{x}``, ``\\sqrt[n]{x}``, ``\\pi``, ``+ - * / ^``, ``\\cdot``, ``\\times``,
``\\div``, parentheses, implicit products (``2\\sqrt{3}``, ``3\\pi``) and a trailing ``%``. Values stay exact
rationals (``fractions.Fraction``) until an irrational operation makes them approximate floats.

Expressions in up to three one-letter variables (``2x+3``, ``(x+1)^2``, ``\frac{a}{2}b``) are compared by
``evaluate_function``: their values at fixed probe points, where the variables take unrelated
irrational values. Two polynomials that agree there are equal with probability 1 (Schwartz-Zippel),
and the same holds in practice for the rational and radical expressions this parser reads.

Anything else (a function such as ``\\sin``, a word) raises ``NotNumeric``; such answers go to the
symbolic judge instead. Doing the common cases here keeps sympy, which costs milliseconds per call and
can hang, off the hot path: see ``docs/reward.md``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from fractions import Fraction

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<cmd>\\[A-Za-z]+)"
    r"|(?P<var>[A-Za-z])"
    r"|(?P<op>[-+*/^(){}\[\]%_])"
    r")"
)
_MAX_EXPONENT = 400  # beyond this a "number" is a degenerate generation; refuse rather than build a huge int
_MAX_TEXT = 200
_MAX_BITS = 4096  # exact rationals larger than this are not answers; refusing keeps every step cheap
_MAX_VARIABLES = 3
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")  # a run of 3+ letters is a word, not a product of variables
# Probe values in (0.5, 1.5): fractional parts of multiples of the golden ratio and of sqrt(2), so that
# every variable and every probe gets an unrelated irrational value.
_PROBES = tuple(
    {c: 0.5 + (ord(c) * 0.6180339887498949 + k * 1.4142135623730951) % 1.0 for c in _LETTERS} for k in (1, 2, 3)
)


def _reciprocal(fn: Callable[[float], float]) -> Callable[[float], float]:
    return lambda x: 1.0 / fn(x)


# Functions of one argument; `\log` without a base is base 10 (as math-verify reads it), `\ln` natural.
_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "\\sin": math.sin, "\\cos": math.cos, "\\tan": math.tan,
    "\\cot": _reciprocal(math.tan), "\\sec": _reciprocal(math.cos), "\\csc": _reciprocal(math.sin),
    "\\arcsin": math.asin, "\\arccos": math.acos, "\\arctan": math.atan,
    "\\sinh": math.sinh, "\\cosh": math.cosh, "\\tanh": math.tanh,
    "\\ln": math.log, "\\log": math.log10, "\\exp": math.exp,
}  # fmt: skip
_INVERSES = {"\\sin": math.asin, "\\cos": math.acos, "\\tan": math.atan}  # `\sin^{-1} x` is arcsin x
_NOT_FACTORS = {"\\cdot", "\\times", "\\div", "\\infty", *_FUNCTIONS}


class NotNumeric(ValueError):
    """The text is not (only) numeric arithmetic."""


@dataclasses.dataclass(frozen=True, slots=True)
class Number:
    """A real value: ``exact`` when it is a rational known exactly, else only ``approx``."""

    approx: float
    exact: Fraction | None

    @staticmethod
    def of(value: Fraction) -> Number:
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
            raise NotNumeric("value too large")
        try:
            approx = float(value)
        except OverflowError:  # an exact value beyond float range still compares exactly
            approx = math.inf if value > 0 else -math.inf
        return Number(approx, value)

    @staticmethod
    def inexact(value: float) -> Number:
        if math.isnan(value):
            raise NotNumeric("not a number")
        return Number(value, None)


PI = Number.inexact(math.pi)
E = Number.inexact(math.e)  # a lone lower-case `e` is Euler's number, not a variable
INFINITY = Number(math.inf, None)


def tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > _MAX_TEXT:
        raise NotNumeric("too long")
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise NotNumeric(f"unexpected {text[pos : pos + 10]!r}")
        kind = m.lastgroup or "op"
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def parse_number(text: str, *, percent_as_ratio: bool = True) -> Number:
    """Evaluate ``text`` as one real number, or raise ``NotNumeric``."""
    return _evaluate(tokenize(text), percent_as_ratio, bindings=None)


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionValue:
    """An expression in variables, identified by its values at the probe points."""

    variables: tuple[str, ...]
    values: tuple[float, ...]


def evaluate_function(text: str, *, percent_as_ratio: bool = True) -> FunctionValue:
    """Evaluate an expression in one-letter variables at the probe points, or raise ``NotNumeric``."""
    if _WORD.search(text):
        raise NotNumeric("contains a word")
    tokens = tokenize(text)
    variables = tuple(sorted({value for kind, value in tokens if kind == "var" and value != "e"}))
    if not variables or len(variables) > _MAX_VARIABLES:
        raise NotNumeric(f"{len(variables)} variables")
    values = tuple(_evaluate(tokens, percent_as_ratio, bindings=probe).approx for probe in _PROBES)
    if not all(math.isfinite(v) for v in values):
        raise NotNumeric("not finite at a probe point")
    return FunctionValue(variables, values)


def _evaluate(tokens: list[tuple[str, str]], percent_as_ratio: bool, bindings: dict[str, float] | None) -> Number:
    parser = _Parser(tokens, percent_as_ratio, bindings)
    value = parser.expression()
    if parser.peek() is not None:
        raise NotNumeric(f"trailing {parser.peek()[1]!r}")
    return value


class _Parser:
    """Recursive descent: expression := term (('+'|'-') term)*; term := unary (op unary | implicit)*."""

    def __init__(
        self, tokens: list[tuple[str, str]], percent_as_ratio: bool, bindings: dict[str, float] | None
    ) -> None:
        self.tokens, self.pos, self.percent_as_ratio, self.bindings = tokens, 0, percent_as_ratio, bindings

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise NotNumeric(f"expected {value or 'a value'}")
        self.pos += 1
        return token

    def expression(self) -> Number:
        value = self.term()
        while (token := self.peek()) and token[1] in "+-":
            self.take()
            value = _add(value, self.term(), sign=1 if token[1] == "+" else -1)
        return value

    def term(self) -> Number:
        value = self.unary()
        while (token := self.peek()) is not None:
            if token[1] in ("*", "\\cdot", "\\times"):
                self.take()
                value = _mul(value, self.unary())
            elif token[1] in ("/", "\\div"):
                self.take()
                value = _div(value, self.unary())
            elif token[0] == "var" or (token[0] == "cmd" and token[1] != "\\infty") or token[1] in "({":
                value = _mul(value, self.power())  # implicit product: 2\sqrt{3}, 3\pi, 2(1+x), 2x
            else:
                break
        return value

    def unary(self) -> Number:
        token = self.peek()
        if token and token[1] in "+-":
            self.take()
            value = self.unary()
            return value if token[1] == "+" else _neg(value)
        return self.power()

    def power(self) -> Number:
        base = self.atom()
        if self._degrees_follow():
            base = _mul(base, Number.inexact(math.pi / 180))  # 30^\circ inside a trig argument
        elif (token := self.peek()) and token[1] == "^":
            self.take()
            base = _pow(base, self.exponent())
        if (token := self.peek()) and token[1] == "%":
            self.take()
            base = _div(base, Number.of(Fraction(100))) if self.percent_as_ratio else base
        return base

    def exponent(self) -> Number:
        return self.unary() if self.peek() and self.peek()[1] in "+-" else self.atom()

    def _degrees_follow(self) -> bool:
        ahead = [value for _, value in self.tokens[self.pos : self.pos + 4]]
        for pattern in (["^", "\\circ"], ["^", "{", "\\circ", "}"]):
            if ahead[: len(pattern)] == pattern:
                self.pos += len(pattern)
                return True
        return False

    def function(self, name: str) -> Number:
        """``\\sin x``, ``\\sin^2 x``, ``\\sin^{-1} x``, ``\\log_2 8``, ``\\sin(x)^2``, ``\\sin 2x``."""
        fn, base, power = _FUNCTIONS[name], None, None
        if name == "\\log" and (token := self.peek()) and token[1] == "_":
            self.take()
            base = self.atom()
        if (token := self.peek()) and token[1] == "^":
            self.take()
            power = self.exponent()
            if power.exact == -1 and name in _INVERSES:
                fn, power = _INVERSES[name], None
        value = _apply(fn, self.function_argument())
        if base is not None:
            value = _div(value, _apply(math.log10, base))
        if power is None and (token := self.peek()) and token[1] == "^":  # \sin(x)^2
            self.take()
            power = self.exponent()
        return value if power is None else _pow(value, power)

    def function_argument(self) -> Number:
        """A parenthesized group, or the juxtaposed factors up to an operator or the next function."""
        token = self.peek()
        if token and token[1] in "({":
            return self.atom()
        value = self.power()
        while (token := self.peek()) and (token[0] in ("num", "var") or token[1] in "({" or (
            token[0] == "cmd" and token[1] not in _NOT_FACTORS)):  # fmt: skip
            value = _mul(value, self.power())
        return value

    def atom(self) -> Number:
        kind, value = self.take()
        if value in _FUNCTIONS:
            return self.function(value)
        if kind == "num":
            return _literal(value)
        if kind == "var":
            if value == "e":
                return E
            if self.bindings is None:
                raise NotNumeric(f"variable {value!r}")
            return Number.inexact(self.bindings[value])
        if value in ("(", "{", "["):
            inner = self.expression()
            self.take({"(": ")", "{": "}", "[": "]"}[value])
            return inner
        if value == "\\frac":
            token = self.peek()
            if token and token[0] == "num" and len(token[1]) == 2 and token[1].isdigit():
                self.take()  # `\frac12`: TeX reads two single-digit arguments
                return _div(_literal(token[1][0]), _literal(token[1][1]))
            return _div(self.atom(), self.atom())
        if value == "\\sqrt":
            return self.sqrt()
        if value == "\\pi":
            return PI
        if value == "\\infty":
            return INFINITY
        raise NotNumeric(f"unsupported {value!r}")

    def sqrt(self) -> Number:
        degree = Number.of(Fraction(2))
        if (token := self.peek()) and token[1] == "[":
            self.take()
            degree = self.expression()
            self.take("]")
        return _root(self.atom(), degree)


def _apply(fn: Callable[[float], float], argument: Number) -> Number:
    try:
        return Number.inexact(fn(argument.approx))
    except (ValueError, OverflowError, ZeroDivisionError):
        raise NotNumeric("outside the function's domain") from None


def _literal(text: str) -> Number:
    mantissa, _, exponent = text.replace(",", "").lower().partition("e")
    if exponent and abs(int(exponent)) > _MAX_EXPONENT:
        raise NotNumeric("exponent too large")
    value = Fraction(mantissa) * (Fraction(10) ** int(exponent or 0))
    return Number.of(value)


def _add(a: Number, b: Number, sign: int) -> Number:
    if a.exact is not None and b.exact is not None:
        return Number.of(a.exact + sign * b.exact)
    return Number.inexact(a.approx + sign * b.approx)


def _neg(a: Number) -> Number:
    return Number.of(-a.exact) if a.exact is not None else Number.inexact(-a.approx)


def _mul(a: Number, b: Number) -> Number:
    if a.exact is not None and b.exact is not None:
        return Number.of(a.exact * b.exact)
    return Number.inexact(a.approx * b.approx)


def _div(a: Number, b: Number) -> Number:
    if b.approx == 0:
        raise NotNumeric("division by zero")
    if a.exact is not None and b.exact is not None:
        return Number.of(a.exact / b.exact)
    return Number.inexact(a.approx / b.approx)


def _pow(base: Number, exponent: Number) -> Number:
    if exponent.exact is not None and exponent.exact.denominator == 1 and base.exact is not None:
        n = exponent.exact.numerator
        if abs(n) > _MAX_EXPONENT or (n < 0 and base.exact == 0):
            raise NotNumeric("power out of range")
        return Number.of(base.exact**n)
    try:
        return Number.inexact(math.pow(base.approx, exponent.approx))
    except (OverflowError, ValueError):
        raise NotNumeric("power out of range") from None


def _root(radicand: Number, degree: Number) -> Number:
    if degree.approx == 0 or radicand.approx < 0:
        raise NotNumeric("root out of range")
    if radicand.exact is not None and degree.exact is not None and degree.exact.denominator == 1:
        exact = _exact_root(radicand.exact, degree.exact.numerator)
        if exact is not None:
            return Number.of(exact)
    return Number.inexact(radicand.approx ** (1.0 / degree.approx))


def _exact_root(value: Fraction, n: int) -> Fraction | None:
    """``value ** (1/n)`` when it is rational (``\\sqrt{4/9}`` = 2/3), else ``None``."""
    if n <= 0 or n > 64:
        return None
    num, den = _int_root(value.numerator, n), _int_root(value.denominator, n)
    return Fraction(num, den) if num is not None and den is not None else None


def _int_root(x: int, n: int) -> int | None:
    if x < 0 or x.bit_length() > 4096:
        return None
    r = round(x ** (1.0 / n)) if x.bit_length() < 1000 else math.isqrt(x) if n == 2 else None
    if r is None:
        return None
    for candidate in (r - 1, r, r + 1):
        if candidate >= 0 and candidate**n == x:
            return candidate
    return None
