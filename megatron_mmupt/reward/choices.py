"""Multiple-choice answers: the letter in any of its common spellings.

``A``, ``(A)``, ``A.``, ``A)``, ``[A]``, ``Option A``, ``option (A)``, ``Choice: A``, ``**B**``, and a letter
followed by its option text (``(B) 12``, ``B. 12 cm``, ``B: 12``) all read as the letter. Only upper-case
letters count: a lower-case ``a`` is more often a variable than an option. The option text alone
(``12`` when option B is ``12``) is mapped to its letter in ``equivalence.py``, because that needs the
question's choices and the equality rules.
"""

from __future__ import annotations

import re

from megatron_mmupt.utils.errors import InputError

LETTERS = "ABCDEFGHIJ"

_CHOICE = re.compile(
    r"""^\**\s*
    (?:(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)\s*(?:is)?\s*[:：]?\s*)?   # "Option", "Choice:", "answer is"
    (?P<open>[(\[{])?\s*(?P<letter>[A-J])\s*(?(open)[)\]}])                         # A, (A), [A], {A}
    \s*\**\s*
    (?:[.:)：]\s*.*|\s+.*)?$                                                         # "A." / "A: text" / "(A) text"
    """,
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)


def parse_choice_letter(text: str, letters: str = "ABCDE") -> str | None:
    """The option letter ``text`` names, if it names one of ``letters``; else ``None``.

    >>> parse_choice_letter("(B) 12 cm")
    'B'
    >>> parse_choice_letter("x") is None
    True
    """
    m = _CHOICE.match(text.strip())
    if not m:
        return None
    letter = m.group("letter")
    # The keyword part is case-insensitive; the letter itself must be upper case and offered.
    if not letter.isupper() or letter not in letters:
        return None
    rest = text.strip()[m.end("letter") :].lstrip(")]} *")
    # "A 12" is a letter with its option text, but "A B" or "A is wrong" is prose, not a choice.
    if rest and rest[0].isalpha() and not _starts_with_separator(text, m):
        return None
    return letter


def _starts_with_separator(text: str, m: re.Match[str]) -> bool:
    tail = text.strip()[m.end("letter") :].lstrip(" *")
    return bool(tail) and tail[0] in ".:)：]}"


def letters_for(choices: tuple[str, ...], default: str) -> str:
    """The letters a question offers: one per choice when it lists them, else ``default``."""
    if not choices:
        return default
    if len(choices) > len(LETTERS):
        raise InputError(f"at most {len(LETTERS)} choices are supported, got {len(choices)}: {choices!r}")
    return LETTERS[: len(choices)]
