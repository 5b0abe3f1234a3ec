"""MathVision (``MathLLMs/MathVision``, splits ``test`` (3,040) and ``testmini`` (304)).

Schema from the dataset card's ``dataset_info`` and ``mathllm/MATH-V`` ``data/test.jsonl`` /
``data/testmini.jsonl``: ``id`` (string), ``question`` (with literal ``<image1>``, ``<image2>`` ... tags),
``options`` (a list: five option texts, often just ``"A"``-``"E"`` pointing into the picture, or empty for
free-form), ``image`` (relative path ``images/1.jpg``; in MATH-V the ``images/`` folder is at the repository
root, one level above ``data/``), ``decoded_image`` (Image, hub only), ``answer`` (a letter when there are
options, else the value), ``solution`` (mostly null), ``level`` (1-5), ``subject``.

Mapping: each row has one image, a composite of everything the ``<imageN>`` tags refer to, so the tags
stay as text (they are not our ``<image>`` placeholder). ``options`` become ``choices`` (the renderer
appends them) and a multiple-choice answer must be one of their letters. ``metadata`` keeps ``level`` and
``subject``, the breakdowns of ``evaluation/evaluate.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.fields import RowReader
from megatron_mmupt.data.presets.options import LETTERS, letter_answer
from megatron_mmupt.data.presets.registry import PRESETS, PresetContext
from megatron_mmupt.data.types import Example


@PRESETS.register("mathvision")
def mathvision(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    read = RowReader(
        row,
        index,
        ctx,
        preset="mathvision",
        reads="id, question, options, decoded_image or image, answer, level, subject",
    )
    example_id = read.identify(("id",))
    question = read.question(("question",))
    images = read.images(
        ("decoded_image",) if row.get("decoded_image") is not None else ("image", "decoded_image"), required=True
    )
    choices = read.choices(("options",))
    answer = read.answer(("answer",))
    if answer is not None and choices:
        letter = letter_answer(answer)
        if letter is None or LETTERS.index(letter) >= len(choices):
            raise read.bad_value(
                "answer", f"{answer!r} is not one of the option letters {LETTERS[0]}-{LETTERS[len(choices) - 1]}"
            )
        answer = letter
    metadata: dict[str, Any] = {
        "level": _level(read, row.get("level")),
        "subject": read.text("subject", row.get("subject")),
    }
    return Example(id=example_id, question=question, images=images, answer=answer, choices=choices, metadata=metadata)


def _level(read: RowReader, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise read.bad_value("level", f"expected a difficulty level 1-5, got {value!r}")
    return value
