"""Read a written question out of a model's response.

A response is a question when, after an optional label (``Question:``, ``New question:``) and quotes are
stripped, it is one non-empty question that asks something (contains ``?``) and does not answer itself
(no ``\\boxed{}``). A multiple-choice question lists its options after a ``Choices:`` line, one per line,
lettered from A in order (``(A) x`` as the data stage renders them, or ``A. x``, ``A: x``); the options must
be at least two and distinct. Anything else is unparseable, with the reason kept for the synthesis summary.

    parsed = parse_question(response)       # WrittenQuestion, or Unparseable(reason)
"""

from __future__ import annotations

import dataclasses
import re

from megatron_mmupt.data.presets.options import OptionsError, split_choices_block
from megatron_mmupt.data.prompt_renderer import IMAGE_PLACEHOLDER

LABEL = re.compile(r"^\s*(?:new\s+)?question\s*[:：]\s*", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True)
class WrittenQuestion:
    """A parsed question.

    Attributes:
        stem: the question without its options, whitespace collapsed.
        choices: option texts in letter order; empty for a free-form question.
    """

    stem: str
    choices: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """As the prompt renderer shows it (options appended in its layout)."""
        if not self.choices:
            return self.stem
        options = "\n".join(f"({chr(ord('A') + i)}) {c}" for i, c in enumerate(self.choices))
        return f"{self.stem}\nChoices:\n{options}"


@dataclasses.dataclass(frozen=True, slots=True)
class Unparseable:
    reason: str


def parse_question(response: str) -> WrittenQuestion | Unparseable:
    text = LABEL.sub("", response.replace(IMAGE_PLACEHOLDER, "").strip()).strip().strip('"“”').strip()
    if not text:
        return Unparseable("empty response")
    if "\\boxed" in text:
        return Unparseable("answers instead of asking (\\boxed{} in the response)")
    try:
        split = split_choices_block(text)
    except OptionsError as e:
        return Unparseable(f"malformed options: {e}")
    stem, choices = split if split is not None else (text, ())
    stem = " ".join(stem.split())
    if "?" not in stem:
        return Unparseable("no question mark in the question")
    if len(set(choices)) != len(choices):
        return Unparseable("two options are the same")
    return WrittenQuestion(stem=stem, choices=choices)
