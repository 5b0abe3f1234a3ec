"""Presets of the MM-UPT training sets, all in the EasyR1 schema ``problem`` / ``images`` / ``answer``.

MM-UPT trains with EasyR1's ``RLHFDataset`` and ``prompt_key: problem``, ``answer_key: answer``,
``image_key: images`` (``waltonfuture/MM-UPT`` ``examples/config.yaml``, ``examples/qwen2_5_vl_7b_mmr1.sh``).
That loader splits ``problem`` on ``<image>`` to place each image of ``images``, so the problems carry
``<image>`` placeholders; we keep them (the prompt renderer honours them). The prompt is the problem alone:
no options are appended, because MM-UPT poses these sets as free-form questions. ``answer`` is read when
present and travels as a diagnostic only.

* ``mmr1`` (``MMR1/MMR1-Math-RL-Data-v0``): ``problem``, ``images``, ``answer``; the dataset card lists no
  features, so these columns are confirmed by MM-UPT's training script, not by the card.
* ``geometry3k`` (``hiyouga/geometry3k``, card ``dataset_info``): ``images`` (list of Image), ``problem``,
  ``answer`` (the value, ``"48"`` for ``test[0]`` in EasyR1's ``tests/test_dataset.py``), ``id`` (int),
  ``choices`` (list), ``ground_truth``. The options are kept in ``metadata["choices"]`` and
  ``ground_truth`` in ``metadata["ground_truth"]``, not offered to the model (see above).
* ``geoqa`` (``WaltonFuture/GEOQA_R1V_Train_8K``): MM-UPT's copy of R1-V's ``leonardPKU/GEOQA_R1V_Train_8K``,
  whose columns are ``image``, ``problem``, ``solution`` (``"<answer> 145° </answer>"``). The copy's card
  could not be read: ``images`` or ``image`` is accepted, and ``answer`` or else the ``<answer>`` of
  ``solution`` (the whole solution when it has no tag).
* ``synthesized`` (the six ``WaltonFuture/{geometry3k,GeoQA-8K,MMR1}-{in-context,direct}-synthesizing``
  sets): their cards could not be read; MM-UPT trains on them with the same loader, so ``problem`` (or
  ``question``), ``images`` (or ``image``) and an optional ``answer`` (synthetic questions are unlabeled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from megatron_mmupt.data.presets.fields import RowReader
from megatron_mmupt.data.presets.registry import PRESETS, PresetContext
from megatron_mmupt.data.types import Example

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@PRESETS.register("mmr1")
def mmr1(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    """MMR1-Math-RL-Data-v0: ``problem`` with ``<image>`` placeholders, ``images``, ``answer``."""
    read = RowReader(row, index, ctx, preset="mmr1", reads="problem, images, answer?")
    example_id = read.identify(())
    return Example(
        id=example_id,
        question=read.question(("problem",)),
        images=read.images(("images",)),
        answer=read.answer(("answer",)),
    )


@PRESETS.register("geometry3k")
def geometry3k(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    """hiyouga/geometry3k: ``problem``, ``images``, ``answer``, ``id``; ``choices``/``ground_truth`` to metadata."""
    read = RowReader(
        row, index, ctx, preset="geometry3k", reads="problem, images, answer?, id?, choices?, ground_truth?"
    )
    example_id = read.identify(("id",))
    metadata: dict[str, Any] = {}
    choices = read.choices(("choices",))
    if choices:
        metadata["choices"] = list(choices)
    if "ground_truth" in row:
        metadata["ground_truth"] = read.text("ground_truth", row["ground_truth"])
    return Example(
        id=example_id,
        question=read.question(("problem",)),
        images=read.images(("images",)),
        answer=read.answer(("answer",)),
        metadata=metadata,
    )


@PRESETS.register("geoqa")
def geoqa(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    """GEOQA_R1V_Train_8K: ``problem``, ``images``/``image``, ``answer`` or the ``<answer>`` of ``solution``."""
    read = RowReader(row, index, ctx, preset="geoqa", reads="problem, images or image, answer? or solution?")
    example_id = read.identify(("id",))
    question = read.question(("problem",))
    images = read.images(("images", "image"))
    answer = read.answer(("answer",))
    if answer is None and "answer" not in ctx.columns and "solution" in row:
        solution = read.text("solution", row["solution"])
        tag = _ANSWER_TAG.search(solution or "")
        answer = (tag.group(1).strip() or None) if tag else solution
    return Example(id=example_id, question=question, images=images, answer=answer)


@PRESETS.register("synthesized")
def synthesized(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example:
    """MM-UPT's synthetic sets: ``problem``/``question``, ``images``/``image``, optional ``answer`` and ``id``."""
    read = RowReader(row, index, ctx, preset="synthesized", reads="problem or question, images or image, answer?")
    example_id = read.identify(("id",))
    return Example(
        id=example_id,
        question=read.question(("problem", "question")),
        images=read.images(("images", "image")),
        answer=read.answer(("answer",)),
    )
