"""Typed objects of the data stage.

``Example`` is one dataset row after its columns were mapped to our schema and before images are
decoded; ``BadRow`` is how a row that cannot become a prompt is reported (skipped and counted, never
silently dropped). ``PromptBatch`` (in ``prompt_batch.py``) is what leaves the stage.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

ImageRef = Any
"""An image as a dataset holds it: encoded ``bytes``, a file path ``str``, a ``PIL.Image.Image``, or the HF
``datasets.Image`` dict ``{"bytes": ..., "path": ...}``. Decoded by ``data.images``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    """One question with its images, in our schema (whatever the source dataset's columns were).

    Attributes:
        id: stable identifier (the dataset's id column, else ``<source>-<row index>``).
        question: the problem text; may contain ``<image>`` placeholders marking where images go.
        images: the question's images, in order (0, 1 or more).
        answer: ground truth when the dataset carries one; diagnostics and evaluation only, never training.
        choices: option texts of a multiple-choice question, in letter order; empty otherwise.
        choices_in_question: the question text already lists the options (MathVerse), so a prompt renderer
            must not append them again; ``False`` when only ``choices`` carries them.
        metadata: source-specific fields kept for evaluation breakdowns (question type, subject, level, ...).
    """

    id: str
    question: str
    images: tuple[ImageRef, ...] = ()
    answer: str | None = None
    choices: tuple[str, ...] = ()
    choices_in_question: bool = False
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


class BadRowReason(enum.StrEnum):
    """Why a row was skipped; counted per reason and listed in the run's bad-row report."""

    MISSING_COLUMN = "missing_column"
    EMPTY_QUESTION = "empty_question"
    BAD_IMAGE = "bad_image"
    TOO_LONG = "too_long"
    IMAGE_TOKEN_MISMATCH = "image_token_mismatch"
    IMAGES_UNSUPPORTED = "images_unsupported"
    """The row has images and the model is text-only."""
    BAD_VALUE = "bad_value"


class BadRow(Exception):
    """A row that cannot become a prompt. ``row`` names it (id or index) in counts and reports."""

    def __init__(self, reason: BadRowReason, row: str, detail: str) -> None:
        super().__init__(f"row {row}: {reason.value}: {detail}")
        self.reason, self.row, self.detail = reason, row, detail

    def __reduce__(self) -> tuple:
        # Bad rows travel back from data worker processes; the default exception pickling would call
        # BadRow(message) and fail.
        return BadRow, (self.reason, self.row, self.detail)
