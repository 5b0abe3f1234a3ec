"""Canonical forms of normalized answers, and the fast equality rules between them.

Every answer becomes an ``AnswerForm``: a kind (choice letter, number, interval, tuple, set, text, or
a symbolic expression) and a hashable ``key``. Equal keys mean equivalent answers. Different keys
are compared by ``forms_equal``, which decides numbers up to a relative tolerance and returns
``None`` only for two non-constant expressions: those pairs go to the symbolic judge.

Numbers: exact rationals compare exactly (``0.5`` == ``\\frac{1}{2}``, ``0.33`` != ``\\frac{1}{3}``);
a value that involves an irrational (``\\sqrt{3}/2``, ``\\pi``) compares with ``rel_tol`` (so ``0.866``
equals ``\\frac{\\sqrt{3}}{2}`` at the default 1e-3).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Hashable

from megatron_mmupt.reward.choices import parse_choice_letter
from megatron_mmupt.reward.latex_numeric import NotNumeric, Number, evaluate_function, parse_number
from megatron_mmupt.reward.normalize import strip_assignment

# "7 objects", "1,200 people", "2.5 million": a number followed by words reads as the number.
_NUMBER_THEN_WORDS = re.compile(r"^(.*?[\d}])\s+[^\W\d_]{2,}(?:\s+[^\W\d_]+)*$")
_WORDS = re.compile(r"^[^\W\d_][^\W\d_\s'’-]*(?:[\s'’-]+[^\W\d_]+)*$")
_PROBE_TOL = 1e-9
_ARTICLES = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_OR_AND = re.compile(r"\s+(?:or|and)\s+")


class FormKind(enum.StrEnum):
    CHOICE = "choice"
    NUMBER = "number"
    INTERVAL = "interval"
    TUPLE = "tuple"
    SET = "set"
    FUNCTION = "function"
    """An expression in one-letter variables, identified by its values at fixed probe points."""
    TEXT = "text"
    EXPR = "expr"
    """Anything else: only the symbolic judge can compare it."""


@dataclasses.dataclass(frozen=True, slots=True)
class AnswerForm:
    """A parsed answer.

    Attributes:
        kind: what the answer is.
        key: equal keys <=> the same answer without further checks.
        text: the normalized text (for ``EXPR``: what the symbolic judge parses).
        values: the numbers of a ``NUMBER`` (one), ``INTERVAL`` (two endpoints), ``TUPLE``/``SET``.
        brackets: the bracket pair of an ``INTERVAL``/``TUPLE`` (``"(]"``); the variables of a ``FUNCTION``.
    """

    kind: FormKind
    key: Hashable
    text: str
    values: tuple[Number, ...] = ()
    brackets: str = ""


def number_key(n: Number) -> Hashable:
    # Exact values key on the rational; approximate ones on 12 significant digits, so that the same
    # irrational written twice (`2\sqrt{3}`, `\sqrt{12}`) shares a key and skips the tolerance test.
    return ("=", n.exact) if n.exact is not None else ("~", float(f"{n.approx:.12g}"))


def number_form(n: Number, text: str) -> AnswerForm:
    return AnswerForm(FormKind.NUMBER, (FormKind.NUMBER, number_key(n)), text, (n,))


def interval_form(endpoints: tuple[Number, Number], brackets: str, text: str) -> AnswerForm:
    key = (FormKind.INTERVAL, brackets, tuple(number_key(v) for v in endpoints))
    return AnswerForm(FormKind.INTERVAL, key, text, endpoints, brackets)


def tuple_form(values: tuple[Number, ...], brackets: str, text: str) -> AnswerForm:
    """An ordered collection; ``brackets`` tells collections of different shapes apart (``"()"``, ``"matrix 2x2"``)."""
    return AnswerForm(
        FormKind.TUPLE, (FormKind.TUPLE, brackets, tuple(number_key(v) for v in values)), text, values, brackets
    )


def parse_form(text: str, letters: str = "ABCDE") -> AnswerForm:
    """Classify a normalized answer (see ``normalize.normalize_answer``)."""
    letter = parse_choice_letter(text, letters)
    if letter is not None:
        return AnswerForm(FormKind.CHOICE, (FormKind.CHOICE, letter), text)
    try:
        return number_form(parse_number(text), text)
    except NotNumeric:
        pass
    collection = _parse_collection(text)
    if collection is not None:
        return collection
    if (m := _NUMBER_THEN_WORDS.match(text)) is not None:
        try:
            return number_form(parse_number(m.group(1)), text)
        except NotNumeric:
            pass
    try:
        function = evaluate_function(text)
    except NotNumeric:
        function = None
    if function is not None:
        if max(function.values) - min(function.values) <= _PROBE_TOL * max(1.0, abs(function.values[0])):
            return number_form(Number.inexact(function.values[0]), text)  # `\sin^2 x + \cos^2 x` is 1
        values = tuple(Number.inexact(v) for v in function.values)
        key = (FormKind.FUNCTION, function.variables, tuple(float(f"{v:.10g}") for v in function.values))
        return AnswerForm(FormKind.FUNCTION, key, text, values, brackets="".join(function.variables))
    if _WORDS.match(text):
        words = _ARTICLES.sub("", text.lower()).strip()
        return AnswerForm(FormKind.TEXT, (FormKind.TEXT, words), text)
    return AnswerForm(FormKind.EXPR, (FormKind.EXPR, text.replace(" ", "")), text)


def _parse_collection(text: str) -> AnswerForm | None:
    """Intervals ``[a, b)``, tuples ``(a, b, c)``, sets ``\\{a, b\\}`` and bare lists ``a, b`` / ``a or b``."""
    stripped = text.strip()
    if stripped.startswith("\\{") and stripped.endswith("\\}"):
        return _numbers_form(FormKind.SET, _split_top_level(stripped[2:-2]), text)
    if len(stripped) >= 2 and stripped[0] in "([" and stripped[-1] in ")]":
        items = _split_top_level(stripped[1:-1])
        if items is not None and len(items) >= 2:
            kind = FormKind.INTERVAL if len(items) == 2 else FormKind.TUPLE
            return _numbers_form(kind, items, text, brackets=stripped[0] + stripped[-1])
        return None
    items = _split_top_level(_OR_AND.sub(",", stripped))
    if items is not None and len(items) >= 2:
        return _numbers_form(FormKind.SET, items, text)
    return None


def _numbers_form(kind: FormKind, items: list[str] | None, text: str, brackets: str = "") -> AnswerForm | None:
    if not items:
        return None
    try:
        # "x = 2 or x = 3": each item may be an assignment of its own.
        values = tuple(parse_number(strip_assignment(item)) for item in items)
    except NotNumeric:
        return None
    if kind is FormKind.SET:
        values = tuple(sorted(set(values), key=lambda n: n.approx))
        key: Hashable = (kind, frozenset(number_key(v) for v in values))
        return AnswerForm(kind, key, text, values, brackets)
    if kind is FormKind.INTERVAL:
        return interval_form(values, brackets, text)  # type: ignore[arg-type]
    if brackets != "()":
        brackets = "()" if brackets in ("(]", "[)") else brackets  # only intervals mix brackets
    return tuple_form(values, brackets, text)


def _split_top_level(text: str) -> list[str] | None:
    """Split on commas outside brackets; ``None`` if the brackets do not balance."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        return None
    items.append(text[start:].strip())
    return items if all(items) else None


def numbers_equal(a: Number, b: Number, rel_tol: float) -> bool:
    if a.exact is not None and b.exact is not None:
        return a.exact == b.exact
    if math.isinf(a.approx) or math.isinf(b.approx):
        return a.approx == b.approx
    return math.isclose(a.approx, b.approx, rel_tol=rel_tol, abs_tol=1e-9)


def forms_equal(a: AnswerForm, b: AnswerForm, rel_tol: float) -> bool | None:
    """Whether two forms are the same answer; ``None`` when only the symbolic judge can tell."""
    if a.key == b.key:
        return True
    kinds = {a.kind, b.kind}
    # Two expressions, or an expression and an interval/set (`x > 3` vs `(3, \infty)`): sympy decides.
    if FormKind.EXPR in kinds and kinds <= {FormKind.EXPR, FormKind.INTERVAL, FormKind.SET}:
        return None
    if a.kind is not b.kind or a.kind in (FormKind.CHOICE, FormKind.TEXT, FormKind.EXPR):
        return False
    if len(a.values) != len(b.values) or a.brackets != b.brackets:
        return False
    # Functions are compared at probe points: equal functions agree there up to rounding only.
    tol = _PROBE_TOL if a.kind is FormKind.FUNCTION else rel_tol
    return all(numbers_equal(x, y, tol) for x, y in zip(a.values, b.values, strict=True))
