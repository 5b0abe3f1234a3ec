"""String normalization of an extracted answer, before it is parsed into an ``AnswerForm``.

Removes what never changes the meaning of a final answer: math delimiters, spacing commands,
``\\left``/``\\right``, text-style wrappers, degree signs, trailing units and full stops, a leading
``x =``. What it keeps is still LaTeX (``\\frac``, ``\\sqrt``, ``\\pi``...), parsed later.
Every rule is a linear-time regex or a string replace: normalization is on the hot path.
"""

from __future__ import annotations

import re

DEFAULT_UNITS: tuple[str, ...] = (
    "degrees", "degree", "deg", "radians", "rad",
    "km", "cm", "mm", "m", "meters", "meter", "centimeters", "centimeter", "kilometers", "inches", "inch",
    "feet", "foot", "ft", "yards", "yard", "miles", "mile",
    "kg", "g", "grams", "gram", "pounds", "lbs", "lb",
    "seconds", "second", "sec", "s", "minutes", "minute", "min", "hours", "hour", "h", "days", "day",
    "years", "year", "units", "unit", "square units", "sq units", "dollars", "cents",
)  # fmt: skip
"""Unit words stripped after a number (``5 cm`` -> ``5``; ``5 \\text{cm}^2`` -> ``5``)."""

_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# A row break `\\\\` is matched first so that its second backslash is not read as the spacing `\\ `.
_SPACING = re.compile(r"(\\\\)|\\[,;:!> ]|\\q?quad\b|\\(?:displaystyle|textstyle|left|right|big|Big|bigg|Bigg)\b|~")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree\b|\\circ\b")
_THIN_SPACE_THOUSANDS = re.compile(r"(?<=\d)(?:\\[, ]|\{,\}|\s)(?=\d{3}(?!\d))")  # `1\,000`, `1{,}000`, `1 000`
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)\b")
_FRAC_VARIANTS = re.compile(r"\\[dt]frac\b")
_RELATION = re.compile(r"=|\\approx|≈")
_UNICODE = str.maketrans({"−": "-", "–": "-", "×": "\\times ", "÷": "/", "π": "\\pi ", "√": "\\sqrt", "∞": "\\infty "})


def strip_assignment(text: str) -> str:
    """``x = 5``, ``\\angle ABC = 40``, ``P(A) \\approx 0.3`` -> the right-hand side.

    Only a single relation whose left side is a short name (no arithmetic) is an assignment;
    ``2x + 3 = 7`` is an equation and stays as it is.
    """
    parts = _RELATION.split(text)
    if len(parts) != 2:
        return text
    lhs, rhs = parts[0].strip(), parts[1].strip()
    if not lhs or not rhs or len(lhs) > 30 or any(op in lhs for op in "+-*/^<>"):
        return text
    return rhs


def strip_delimiters(text: str) -> str:
    text = text.strip()
    for left, right in _DELIMITERS:
        if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
            text = text[len(left) : len(text) - len(right)].strip()
    return text


def _unit_pattern(units: tuple[str, ...]) -> re.Pattern[str]:
    # A trailing unit word (optionally squared/cubed) after a number or a closing brace/paren. Units of
    # one or two letters need a space before them: `2m` may be the product 2*m, `2 m` is two metres.
    def alternation(words: list[str]) -> str:
        return "|".join(re.escape(u).replace(r"\ ", r"\s+") for u in sorted(words, key=len, reverse=True))

    short = alternation([u for u in units if len(u) <= 2]) or "(?!)"
    long = alternation([u for u in units if len(u) > 2]) or "(?!)"
    power = r"(?:\^\s*\{?[23]\}?|[²³])?"
    return re.compile(rf"(?<=[\d}}\)\]])(?:\s+(?:{short})|\s*(?:{long})){power}\s*$", re.IGNORECASE)


_UNIT_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def normalize_answer(text: str, *, units: tuple[str, ...] = DEFAULT_UNITS, strip_percent: bool = True) -> str:
    """Canonical surface form of an extracted answer (see module docstring).

    ``strip_percent``: ``50\\%`` -> ``50`` (the MM-UPT reference grader's behaviour); otherwise the
    percent sign is kept as ``%`` so the numeric parser can read it as a ratio (``50%`` == ``0.5``).
    """
    text = strip_delimiters(text.translate(_UNICODE))
    text = _FRAC_VARIANTS.sub(r"\\frac", text)
    text = _THIN_SPACE_THOUSANDS.sub("", text)
    text = _SPACING.sub(lambda m: m.group(1) or " ", text)
    # Degrees are dropped from a final value (`30^\circ` == `30`) but kept inside trig arguments,
    # where the numeric parser converts them to radians (`\cos 60^\circ` == `0.5`).
    text = _DEGREES.sub(r"^\\circ" if _TRIG.search(text) else "", text)
    text = text.replace("\\%", "%").replace("\\$", "").replace("$", "")
    # Unwrap `\text{..}` and friends; repeat for nested wrappers (bounded: each pass removes one level).
    for _ in range(3):
        unwrapped = _TEXT_WRAPPER.sub(r" \1", text)  # `5\text{cm}` reads as `5 cm`
        if unwrapped == text:
            break
        text = unwrapped
    text = strip_assignment(text)
    text = text.strip().rstrip(".").strip()
    if units:
        pattern = _UNIT_CACHE.get(units) or _UNIT_CACHE.setdefault(units, _unit_pattern(units))
        stripped = pattern.sub("", text)
        text = stripped if stripped.strip() else text
    if strip_percent:
        text = text.rstrip().removesuffix("%").rstrip()
    return " ".join(text.split())
