"""Multiple-choice options written as text, and answers written as letters.

Two benchmarks keep their options inside text instead of a list column:

* We-Math's ``option`` column: ``"A. 300, 400;B. 400, 300;C. 3000, 4000;D. 4000, 3000; E. No correct
  answer"`` (``We-Math/We-Math`` ``data/testmini.json``). Separators vary (``;``, ``; ``, a space, a
  full-width ``．``), option texts may contain ``;`` (``"A. ①; ③;B. ②; ③"``), and a few rows carry
  stray ``;X.`` fragments inside a text (``"... around point ;O.;B. Yes"``). A marker is a letter with a
  period, at the start or after whitespace or ``;``, followed by text; markers are taken in letter order.
  One row of testmini skips letters (A, B, C, F): its options keep their order and are re-lettered
  A, B, C, D, and the answer letter is mapped the same way (the prompt renderer letters options by
  position, so the model sees them as A-D).
* MathVerse's ``question``: the options follow a ``Choices:`` (or ``Choice:``) line, one per line, as
  ``A:40°`` or ``A. 090^\\circ T`` (``ZrrSkywalker/MathVerse`` ``data/testmini_text_only.json``). Only
  the marker lines are options; two testmini rows end with a stray number line, which belongs to none.

Answers given as letters (We-Math, MathVision, MathVerse) travel as the bare letter, ``"(C)"`` included.
"""

from __future__ import annotations

import re

LETTERS = "ABCDEFGHIJ"

_LETTER_ANSWER = re.compile(r"^\(?\s*([A-J])\s*\)?\s*[.:]?$")
_CHOICES_LINE = re.compile(r"^[ \t]*choices?[ \t]*[:：][ \t]*$", re.IGNORECASE | re.MULTILINE)
_CHOICE_ITEM = re.compile(r"^\s*\(?([A-J])\s*[:.：．)]\s*(.*?)\s*$")


class OptionsError(ValueError):
    """Options text that does not split into lettered options; the message says what was expected."""


def letter_answer(answer: str) -> str | None:
    """The option letter ``answer`` is (``"C"``, ``"(C)"``, ``"C."``), else ``None``."""
    match = _LETTER_ANSWER.match(answer.strip())
    return match.group(1) if match else None


def normalize_letter(answer: str | None, choices: tuple[str, ...]) -> str | None:
    """``"(C)"`` -> ``"C"`` when ``C`` is one of the offered letters; any other answer is kept as written."""
    if answer is None or not choices:
        return answer
    letter = letter_answer(answer)
    return letter if letter is not None and LETTERS.index(letter) < len(choices) else answer


def _marker(letters: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|(?<=[\s;；]))([{letters}])[.．]\s*(?=[^\s;；])")


def split_option_string(text: str) -> tuple[tuple[str, ...], str]:
    """``(option texts, their letters as written)`` of a We-Math option string.

    >>> split_option_string("A. 3;B. 4; C. No correct answer")
    (('3', '4', 'No correct answer'), 'ABC')
    """
    text = text.strip()
    first = _marker("A").match(text)
    if first is None:
        raise OptionsError(f"expected options like 'A. x; B. y', got {text[:60]!r}")
    marks = [first]
    while (last := LETTERS.index(marks[-1].group(1))) + 1 < len(LETTERS):
        later = LETTERS[last + 1 :]
        found = _marker(later[0]).search(text, marks[-1].end())
        if found is None and len(later) > 1:
            found = _marker(later[1:]).search(text, marks[-1].end())  # a skipped letter (A, B, C, F)
        if found is None:
            break
        marks.append(found)
    texts = []
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        texts.append(text[mark.end() : end].strip().rstrip(";；").strip())
    if len(marks) < 2 or not all(texts):
        raise OptionsError(f"expected at least two non-empty options like 'A. x; B. y', got {text[:60]!r}")
    return tuple(texts), "".join(m.group(1) for m in marks)


def choices_block(question: str) -> tuple[str, ...] | None:
    """Option texts after the last ``Choices:`` line of ``question``; ``None`` when there is no such line.

    >>> choices_block("Find x.\\nChoices:\\nA:40°\\nB:60°")
    ('40°', '60°')
    """
    split = split_choices_block(question)
    return None if split is None else split[1]


def split_choices_block(question: str) -> tuple[str, tuple[str, ...]] | None:
    """``(text before the last Choices: line, its option texts)``; ``None`` when there is no such line.

    Options are lines ``A: x``, ``A. x``, ``A) x`` or ``(A) x`` (the prompt renderer's layout), lettered in order.
    """
    headings = list(_CHOICES_LINE.finditer(question))
    if not headings:
        return None
    options: list[str] = []
    for line in question[headings[-1].end() :].splitlines():
        item = _CHOICE_ITEM.match(line)
        if item is None:
            continue
        expected = LETTERS[len(options)] if len(options) < len(LETTERS) else "no further option"
        if item.group(1) != expected:
            raise OptionsError(f"the 'Choices:' block lists option {item.group(1)} where {expected} belongs")
        options.append(item.group(2))
    if len(options) < 2:
        raise OptionsError("the 'Choices:' block lists fewer than two options 'A: x', 'B: y'")
    return question[: headings[-1].start()].rstrip(), tuple(options)


def lists_choices(question: str, choices: tuple[str, ...]) -> bool:
    """Whether ``question`` already lists exactly ``choices`` in a ``Choices:`` block (then a prompt renderer
    must not append them again)."""
    try:
        return bool(choices) and choices_block(question) == choices
    except OptionsError:
        return False
