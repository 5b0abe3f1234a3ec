"""MathVista (``AI4Math/MathVista``, splits ``testmini`` with answers and ``test`` without).

Schema from the dataset card's ``dataset_info`` and the rows of ``lupantech/MathVista``
``data/testmini.json``: ``pid``, ``question``, ``image`` (relative path ``images/1.jpg``), ``decoded_image``
(Image), ``choices`` (list, ``null`` for free-form), ``unit``, ``precision`` (float, ``null`` unless the
answer is a float), ``answer`` (for multi_choice the option *text*, e.g. ``"145°"``, not a letter),
``question_type`` (``multi_choice`` / ``free_form``), ``answer_type`` (``integer`` / ``float`` / ``text`` /
``list``), ``metadata`` (``category``, ``context``, ``grade``, ``img_height``, ``img_width``, ``language``,
``skills``, ``source``, ``split``, ``task``) and ``query`` (the official prompt: hint, question, choices).

Mapping: the question is ``question`` (without the options; ``choices`` carries them, and the answer
stays the option text, which the reward maps to its letter). The image is ``decoded_image`` when present,
else ``image`` resolved against the data folder. ``metadata`` keeps what ``evaluation/calculate_score.py``
needs to normalize answers (``question_type``, ``answer_type``, ``precision``, ``unit``) and to break
scores down (``language``, ``source``, ``category``, ``task``, ``context``, ``grade``, ``skills``), plus
``query``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.fields import RowReader
from megatron_mmupt.data.presets.registry import PRESETS, PresetContext
from megatron_mmupt.data.types import Example

QUESTION_TYPES = ("multi_choice", "free_form")
BREAKDOWN_KEYS = ("category", "context", "grade", "language", "skills", "source", "task")


@PRESETS.register("mathvista")
def mathvista(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    read = RowReader(
        row,
        index,
        ctx,
        preset="mathvista",
        reads="pid, question, decoded_image or image, choices, answer, question_type, answer_type, unit, "
        "precision, metadata, query",
    )
    example_id = read.identify(("pid",))
    question = read.question(("question",))
    images = read.images(
        ("decoded_image",) if row.get("decoded_image") is not None else ("image", "decoded_image"), required=True
    )
    choices = read.choices(("choices",))
    _, question_type = read.require(None, ("question_type",))
    if question_type not in QUESTION_TYPES:
        raise read.bad_value("question_type", f"{question_type!r} is not one of {', '.join(QUESTION_TYPES)}")
    if question_type == "multi_choice" and not choices:
        raise read.bad_value("choices", "question_type is multi_choice but the row lists no choices")
    metadata: dict[str, Any] = {
        "question_type": question_type,
        "answer_type": read.text("answer_type", row.get("answer_type")),
        "unit": read.text("unit", row.get("unit")),
        "precision": _precision(read, row.get("precision")),
        "query": read.text("query", row.get("query")),
    }
    metadata.update(_breakdown(read, row.get("metadata")))
    return Example(
        id=example_id,
        question=question,
        images=images,
        answer=read.answer(("answer",)),
        choices=choices,
        metadata=metadata,
    )


def _precision(read: RowReader, value: Any) -> int | None:
    """Decimal places of a float answer (parquet stores ``1.0``; the scorer calls ``round(x, precision)``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise read.bad_value("precision", f"expected a whole number of decimal places, got {value!r}")
    return int(value)


def _breakdown(read: RowReader, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise read.bad_value("metadata", f"expected a struct of category, task, skills, ..., got {value!r}")
    kept = {key: value[key] for key in BREAKDOWN_KEYS if key in value}
    if "skills" in kept and kept["skills"] is not None:
        kept["skills"] = list(kept["skills"])
    return kept
