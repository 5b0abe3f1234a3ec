"""MathVerse (``AI4Math/MathVerse``, configs ``testmini`` and ``testmini_text_only``).

Schema from ``ZrrSkywalker/MathVerse`` (``data/testmini_text_only.json``, ``output_templates/*.json``, the
README's loading example) and lmms-eval's ``mathverse`` task: ``sample_index`` (unique), ``problem_index``
(shared by the versions of one problem), ``problem_version`` (Text Dominant, Text Lite, Vision Intensive,
Vision Dominant, Vision Only; Text Only in the text-only config), ``question``, ``image`` (an Image in the
hub parquet, a relative path ``images_version_1-4/image_685.png`` in the JSON, ``""`` for Text Only),
``answer`` (a letter for multi-choice, rarely ``"(C)"``, an option text or several letters),
``question_type`` (``multi-choice`` / ``free-form``), ``metadata`` (``split``, ``source``, ``subject``,
``subfield``), ``query_wo``, ``query_cot``, and since April 2024 ``question_for_eval`` (what the judge sees).

Mapping: Vision Only rows have an empty ``question``: the whole problem is in the image. They get
``VISION_ONLY_QUESTION`` (MathVerse's own query says "According to the question shown in the image")
and ``metadata["question_in_image"] = True``; any other empty question is a bad row. Multi-choice
questions list their options in the text after ``Choices:``; they are parsed into ``choices`` for the
reward's option-text <-> letter mapping, and the question is kept verbatim
(``Example.choices_in_question = True``). A letter answer travels as the bare letter. ``metadata``
keeps the breakdown keys of ``evaluation/score_answer_s2.py`` (``problem_version``, ``subject``,
``subfield``) and ``problem_index``, ``question_type``, ``source``, ``query_wo``, ``query_cot``,
``question_for_eval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.fields import RowReader
from megatron_mmupt.data.presets.options import OptionsError, choices_block, letter_answer
from megatron_mmupt.data.presets.registry import PRESETS, PresetContext
from megatron_mmupt.data.types import BadRowReason, Example

VISION_ONLY = "Vision Only"
TEXT_ONLY = "Text Only"
VISION_ONLY_QUESTION = "According to the question shown in the image, answer the question."
QUESTION_TYPES = ("multi-choice", "free-form")
VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", VISION_ONLY, TEXT_ONLY)


@PRESETS.register("mathverse")
def mathverse(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    read = RowReader(
        row,
        index,
        ctx,
        preset="mathverse",
        reads="sample_index, problem_version, question, image, answer, question_type, metadata, query_wo, query_cot",
    )
    example_id = read.identify(("sample_index",))
    _, version = read.require(None, ("problem_version",))
    if version not in VERSIONS:
        raise read.bad_value("problem_version", f"{version!r} is not one of {', '.join(VERSIONS)}")
    _, question_type = read.require(None, ("question_type",))
    if question_type not in QUESTION_TYPES:
        raise read.bad_value("question_type", f"{question_type!r} is not one of {', '.join(QUESTION_TYPES)}")
    question, in_image = _question(read, version)
    images = read.images(("image",))
    if not images and version != TEXT_ONLY:
        raise read.bad_value("image", f"a {version} problem needs its image; the row has none")
    choices: tuple[str, ...] = ()
    if question_type == "multi-choice" and not in_image:
        try:
            choices = read.check_choices("question", choices_block(question) or ())
        except OptionsError as e:
            raise read.bad_value("question", str(e)) from None
    answer = read.answer(("answer",))
    if answer is not None and question_type == "multi-choice":
        answer = letter_answer(answer) or answer  # "(C)" -> "C"; option texts and "C\nD" stay as written
    metadata = {
        **_breakdown(read, row),
        "problem_version": version,
        "question_type": question_type,
        "question_in_image": in_image,
    }
    return Example(
        id=example_id,
        question=question,
        images=images,
        answer=answer,
        choices=choices,
        choices_in_question=bool(choices),  # the question carries its "Choices:" block word for word
        metadata=metadata,
    )


def _question(read: RowReader, version: Any) -> tuple[str, bool]:
    """The question text and whether it is only in the image (Vision Only rows have an empty text)."""
    name, value = read.require("question", ("question",))
    if version == VISION_ONLY and (value is None or (isinstance(value, str) and not value.strip())):
        return VISION_ONLY_QUESTION, True
    if value is None or (isinstance(value, str) and not value.strip()):
        raise read.bad(BadRowReason.EMPTY_QUESTION, f"column {name!r} is empty in a {version} problem")
    return read.question(("question",)), False


def _breakdown(read: RowReader, row: Mapping[str, Any]) -> dict[str, Any]:
    meta = row.get("metadata")
    if meta is not None and not isinstance(meta, Mapping):
        raise read.bad_value("metadata", f"expected a struct of source, subject, subfield, got {meta!r}")
    meta = meta or {}
    kept: dict[str, Any] = {key: meta.get(key) for key in ("subject", "subfield", "source")}
    kept["problem_index"] = read.text("problem_index", row.get("problem_index"))
    for key in ("query_wo", "query_cot", "question_for_eval"):
        kept[key] = read.text(key, row.get(key))
    return kept
