"""We-Math (``We-Math/We-Math``, split ``testmini``, 1,740 multiple-choice questions).

Schema from ``We-Math/We-Math`` ``data/testmini.json`` (every row has exactly these keys): ``ID`` (the
problem, shared by the sub-questions of one multi-step problem, so not unique), ``split``, ``knowledge
concept``, ``question``, ``option`` (one string, ``"A. 3; B. 4; ..."``), ``answer`` (a letter),
``image_path`` (relative path ``2steps/image/1-1.png`` in the JSON; an Image in the hub parquet, which
third-party loaders read as ``row["image_path"]``), ``key`` (the sub-question's role: ``2steps_1``,
``2steps_2``, ``2steps_multi``, ``3steps_1`` ... ``3steps_multi``), ``question number`` (unique int) and
``knowledge concept description``. The hub parquet's own ``dataset_info`` could not be read, so ``image``
is accepted in place of ``image_path``.

Mapping: options are split from ``option`` (``options.split_option_string``) and the answer letter is
checked against them. The id is ``question number`` (``ID`` repeats). ``metadata`` keeps what
``evaluation/four_dimensional_metrics.py`` and ``accuracy.py`` join on: ``we_math_id`` (``ID``), ``key``,
``num_steps`` and ``step`` (parsed from ``key``: ``3steps_multi`` -> 3, ``"multi"``), ``knowledge_concept``,
and the raw ``option`` string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.fields import RowReader
from megatron_mmupt.data.presets.options import LETTERS, OptionsError, letter_answer, split_option_string
from megatron_mmupt.data.presets.registry import PRESETS, PresetContext
from megatron_mmupt.data.types import Example

_KEY = re.compile(r"^(?P<steps>\d+)steps_(?P<step>\d+|multi)$")


@PRESETS.register("we_math")
def we_math(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    read = RowReader(
        row,
        index,
        ctx,
        preset="we_math",
        reads="question number, question, option, answer, image_path, ID, key, knowledge concept",
    )
    example_id = read.identify(("question number",))
    question = read.question(("question",))
    images = read.images(("image_path", "image"), required=True)
    option_column, option_text = read.require("choices", ("option",))
    if not isinstance(option_text, str):
        raise read.bad_value(option_column, f"expected one string 'A. x; B. y; ...', got {option_text!r}")
    try:
        choices, written = split_option_string(option_text)
    except OptionsError as e:
        raise read.bad_value(option_column, str(e)) from None
    choices = read.check_choices(option_column, choices)
    answer = read.answer(("answer",))
    if answer is not None:
        letter = letter_answer(answer)
        if letter is None or letter not in written:
            raise read.bad_value("answer", f"{answer!r} is not one of the option letters {', '.join(written)}")
        answer = LETTERS[written.index(letter)]  # re-lettered in order when the source skips letters
    metadata = {**_identity(read, row), "option": option_text}
    if written != LETTERS[: len(written)]:
        metadata["option_letters_as_written"] = written
    return Example(id=example_id, question=question, images=images, answer=answer, choices=choices, metadata=metadata)


def _identity(read: RowReader, row: Mapping[str, Any]) -> dict[str, Any]:
    """``ID``, ``key`` (with its step count and step) and knowledge concept, for the step-wise metrics."""
    key = read.text("key", row.get("key"))
    metadata: dict[str, Any] = {
        "we_math_id": read.text("ID", row.get("ID")),
        "key": key,
        "knowledge_concept": read.text("knowledge concept", row.get("knowledge concept")),
    }
    if key is not None:
        parsed = _KEY.match(key)
        if parsed is None:
            raise read.bad_value("key", f"{key!r} is not of the form <n>steps_<i> or <n>steps_multi")
        step = parsed.group("step")
        metadata["num_steps"] = int(parsed.group("steps"))
        metadata["step"] = step if step == "multi" else int(step)
    return metadata
