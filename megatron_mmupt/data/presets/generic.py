"""The generic preset: our own minimal schema, for data prepared by hand or converted by a script.

Columns: ``question`` (text; ``<image>`` placeholders are kept), ``images`` (or ``image``: one image or a
list; structs, bytes or paths), optional ``answer``, optional ``choices`` (a list of option texts, not
listed in the question text: the prompt renderer appends them; a question that already lists them in a
``Choices:`` block, as the demo task's do, keeps its text), optional ``id``. Any other column is
ignored. Every role can be renamed with ``data.source.columns.<role>=<column>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.fields import RowReader
from megatron_mmupt.data.presets.options import lists_choices, normalize_letter
from megatron_mmupt.data.presets.registry import PRESETS, PresetContext
from megatron_mmupt.data.types import Example


def generic_features(**extra: Any) -> Any:
    """The generic schema as HF ``datasets`` features, for writers of datasets this preset reads: ``images``
    as encoded ``Image`` structs, so ``load_dataset("parquet", ...)`` decodes them; ``extra`` columns after."""
    from datasets import Features, Image, List, Value

    columns = {
        "id": Value("string"),
        "question": Value("string"),
        "images": List(Image()),
        "answer": Value("string"),
        "choices": List(Value("string")),
    }
    return Features(columns | extra)


@PRESETS.register("generic")
def generic(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    """``question``, ``images``/``image``, optional ``answer``, ``choices`` and ``id``."""
    read = RowReader(row, index, ctx, preset="generic", reads="question, images, answer?, choices?, id?")
    example_id = read.identify(("id",))
    question = read.question(("question",))
    images = read.images(("images", "image"))
    choices = read.choices(("choices",))
    answer = read.answer(("answer",))
    return Example(
        id=example_id,
        question=question,
        images=images,
        answer=normalize_letter(answer, choices),
        choices=choices,
        choices_in_question=lists_choices(question, choices),
    )
