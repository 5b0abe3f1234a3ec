"""Final-answer extraction from free-form responses: pure functions, linear time, never raise.

The MM-UPT prompt asks for the answer "within \\boxed{}", so the primary source is the last complete
``\\boxed{..}`` (or ``\\fbox{..}``) with balanced braces. Escaped braces (``\\{1, 2\\}``, a set) do not
count as grouping. Further sources, tried in the configured order when no box is found, cover models
that ignore the instruction: ``<answer>..</answer>``, "the answer is X", and an "Answer: X" line.

Deviation from the reference (``mathruler.grader.extract_boxed_content``): the reference returns the
literal string "None" when there is no box, which then takes part in the vote; here a missing or
empty answer is ``None`` and never votes (see ``majority_vote``). The reference also gives up when
the last box is unbalanced (a truncated response); we fall back to the last *complete* box.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

# `\boxed{`, `\boxed {`, `\fbox{`; the brace itself is matched by the scanner below.
_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*(?=\{)")
# Tokens that matter for brace matching: an escaped backslash, an escaped brace, or a bare brace.
_BRACE_TOKEN = re.compile(r"\\\\|\\[{}]|[{}]")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# "The final answer is: 12." -> "12"; the answer ends at a newline or at a sentence end.
_ANSWER_IS = re.compile(r"answer\s+is\s*[:：]?\s*([^\n]+)", re.IGNORECASE)
_ANSWER_LINE = re.compile(
    r"^[ \t*#>-]*(?:final\s+)?answer\s*\**\s*[:：]\s*\**\s*([^\n]+)$", re.IGNORECASE | re.MULTILINE
)
# Answers are short; a "box" of many thousand characters is a degenerate generation, not an answer.
MAX_ANSWER_CHARS = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Extraction:
    """An extracted final answer and the rule that found it (``None`` when there is no answer)."""

    answer: str | None
    source: str | None

    @property
    def has_answer(self) -> bool:
        return self.answer is not None


NO_ANSWER = Extraction(None, None)


def last_boxed(text: str) -> str | None:
    """Content of the complete ``\\boxed{..}``/``\\fbox{..}`` that closes last, or ``None``.

    "Closes last" rather than "starts last": in ``\\boxed{\\boxed{2} + \\boxed{3}}`` the final answer is
    the outer box. One pass over the text after the first box start (O(len(text))), so a hostile
    response with thousands of unclosed boxes costs no more than a normal one.
    """
    starts = [m.end() for m in _BOX_START.finditer(text)]
    if not starts:
        return None
    close_of = _match_braces(text, starts[0])
    complete = [(close_of[s], s) for s in starts if s in close_of]
    if not complete:
        return None
    end, start = max(complete)
    return _unwrap_nested_box(text[start + 1 : end].strip())


def _match_braces(text: str, offset: int) -> dict[int, int]:
    """Map the index of each bare ``{`` at or after ``offset`` to the index of its matching ``}``."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE_TOKEN.finditer(text, offset):
        token = m.group()
        if token == "{":
            stack.append(m.start())
        elif token == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def _unwrap_nested_box(content: str) -> str:
    # `\boxed{\boxed{5}}` -> `5`: only a box whose whole content is another box is unwrapped.
    while (m := _BOX_START.match(content)) and _match_braces(content, m.end()).get(m.end()) == len(content) - 1:
        content = content[m.end() + 1 : -1].strip()
    return content


def answer_tag(text: str) -> str | None:
    """Content of the last ``<answer>..</answer>`` (R1-style prompts); a box inside it wins."""
    matches = _ANSWER_TAG.findall(text)
    if not matches:
        return None
    inner = matches[-1]
    return last_boxed(inner) or inner.strip()


def answer_is(text: str) -> str | None:
    """X from the last "... answer is X" (up to the end of the line or sentence)."""
    matches = _ANSWER_IS.findall(text)
    return _strip_sentence_end(matches[-1]) if matches else None


def answer_line(text: str) -> str | None:
    """X from the last line of the form "Answer: X" (markdown bold and "Final" allowed)."""
    matches = _ANSWER_LINE.findall(text)
    return _strip_sentence_end(matches[-1]) if matches else None


def _strip_sentence_end(answer: str) -> str:
    answer = answer.strip().rstrip("*").strip()
    # "12. So we are done" -> "12"; but keep decimals ("3.5") and a trailing "$" of inline math.
    m = re.match(r"(.+?)\.(?:\s|$)", answer)
    if m:
        answer = m.group(1)
    return answer.strip().strip("*").strip()


EXTRACTORS: dict[str, Callable[[str], str | None]] = {
    "boxed": last_boxed,
    "answer_tag": answer_tag,
    "answer_is": answer_is,
    "answer_line": answer_line,
}
"""Extraction rules by name; a config lists the ones to try, in order."""


def extract_answer(text: str, sources: tuple[str, ...] = ("boxed",)) -> Extraction:
    """Apply the named extractors in order and return the first non-empty answer.

    Empty answers (``\\boxed{}``, whitespace) and answers longer than ``MAX_ANSWER_CHARS`` count as
    no answer: neither can be a meaningful vote.
    """
    for name in sources:
        answer = EXTRACTORS[name](text)
        if answer is not None:
            answer = answer.strip()
            if answer and len(answer) <= MAX_ANSWER_CHARS:
                return Extraction(answer, name)
    return NO_ANSWER
