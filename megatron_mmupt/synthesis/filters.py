"""What a written question must pass to become training data, one filter per reason it can fail.

In the order they run (the cheap text checks first, the model's consensus last, on what is left):

* ``truncated``: the response hit ``max_new_tokens`` (an unfinished question);
* ``unparseable``: not a question (``parse.parse_question``);
* ``length``: the question is shorter than ``min_chars`` or longer than ``max_chars``;
* ``copy``: the seed question again (same words, ignoring case, punctuation and spacing);
* ``duplicate``: a question already kept for the same image;
* ``not_answerable``: the model's own answers do not agree: the majority holds less than ``min_share``
  of ``k`` samples (or more than ``max_share``), so the vote reward would have little signal.

Each reason is counted in the synthesis summary, so a user sees where questions are lost.
"""

from __future__ import annotations

import dataclasses
import enum
import re

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive, check_range
from megatron_mmupt.data.presets.options import OptionsError, split_choices_block
from megatron_mmupt.data.prompt_renderer import IMAGE_PLACEHOLDER
from megatron_mmupt.synthesis.parse import WrittenQuestion


class Rejection(enum.StrEnum):
    TRUNCATED = "truncated"
    UNPARSEABLE = "unparseable"
    LENGTH = "length"
    COPY = "copy"
    DUPLICATE = "duplicate"
    NOT_ANSWERABLE = "not_answerable"


@dataclasses.dataclass(kw_only=True, slots=True)
class FilterConfig(ConfigNode):
    min_chars: int = 10
    """Shortest question (its text with options) in characters."""
    max_chars: int = 1000
    """Longest question in characters."""
    k: int = 8
    """Answers sampled per question for the consensus check."""
    temperature: float = 1.0
    """Sampling temperature of those answers (use the training rollouts' temperature)."""
    max_new_tokens: int = 256
    """Longest answer; a truncated answer has no final answer and does not vote."""
    min_share: float = 0.5
    """Keep a question when its majority answer holds at least this share of the ``k`` samples."""
    max_share: float = 1.0
    """... and at most this share (below 1 drops questions the model already answers unanimously: a
    group whose samples all agree has zero GRPO advantage)."""

    def __post_init__(self) -> None:
        check_positive("min_chars", self.min_chars)
        check_positive("max_chars", self.max_chars)
        if self.min_chars > self.max_chars:
            raise ConfigError(f"min_chars={self.min_chars} > max_chars={self.max_chars}")
        check_positive("k", self.k)
        check_range("temperature", self.temperature, 0.0)
        check_positive("max_new_tokens", self.max_new_tokens)
        check_range("min_share", self.min_share, 0.0, 1.0)
        check_range("max_share", self.max_share, 0.0, 1.0)
        if self.min_share > self.max_share:
            raise ConfigError(f"min_share={self.min_share} > max_share={self.max_share}: no question could pass")


def normalized(text: str) -> str:
    """Lower case, letters and digits only, single spaces: what ``copy`` and ``duplicate`` compare."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def length_ok(question: WrittenQuestion, config: FilterConfig) -> bool:
    return config.min_chars <= len(question.text) <= config.max_chars


def is_copy(question: WrittenQuestion, seed_question: str) -> bool:
    """The seed's question again; compared without options, which a model may re-letter or reorder."""
    return normalized(question.stem) == normalized(_without_choices(seed_question.replace(IMAGE_PLACEHOLDER, "")))


def share_ok(majority_share: float, config: FilterConfig) -> bool:
    return config.min_share <= majority_share <= config.max_share


def _without_choices(question: str) -> str:
    try:
        split = split_choices_block(question)
    except OptionsError:
        return question
    return question if split is None else split[0]


class Deduplicator:
    """Remembers the questions kept per image; ``seen`` is True for a repeat (then it is not kept again)."""

    def __init__(self) -> None:
        self._kept: set[tuple[str, str]] = set()

    def seen(self, image_key: str, question: WrittenQuestion) -> bool:
        key = (image_key, normalized(question.text))
        if key in self._kept:
            return True
        self._kept.add(key)
        return False
