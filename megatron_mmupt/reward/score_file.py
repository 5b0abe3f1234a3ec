"""Score a JSONL file of responses with the reward stage (``megatron-mmupt score``).

Input: one JSON object per line with at least ``prompt_id`` and ``response``, optionally ``answer``
(ground truth, diagnostics only) and ``choices`` (option texts, in letter order). Lines with the same
``prompt_id`` form one group, in file order. Output: the input objects, in input order, with
``extracted``, ``pseudo_label``, ``reward``, ``vote_share`` and, when ``answer`` is given, ``correct``.
The output file is written atomically: a failure leaves any previous file untouched.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from megatron_mmupt.reward.choices import LETTERS
from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.reward.stage import RewardStage
from megatron_mmupt.rollout.types import Rollout, RolloutGroup
from megatron_mmupt.utils.atomic import atomic_writer
from megatron_mmupt.utils.errors import InputError


@dataclasses.dataclass(slots=True)
class _GroupRows:
    first_line: int
    answer: str | None
    choices: tuple[str, ...]
    rows: list[int] = dataclasses.field(default_factory=list)
    responses: list[str] = dataclasses.field(default_factory=list)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Parse and validate every line (blank lines skipped); errors name the line number."""
    if not path.is_file():
        raise InputError(f"input file {path} does not exist (pass --input PATH to a .jsonl file)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                rows.append((number, _parse_line(path, number, line)))
    if not rows:
        raise InputError(f"{path} has no responses; each line must be a JSON object with prompt_id and response")
    return [dict(row, _line=number) for number, row in rows]


def _parse_line(path: Path, number: int, line: str) -> dict[str, Any]:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("prompt_id", "response"):
        if key not in row:
            raise InputError(f"{where}: missing required field {key!r} (required: prompt_id, response)")
    if not isinstance(row["prompt_id"], (str, int)) or isinstance(row["prompt_id"], bool):
        raise InputError(f"{where}: prompt_id must be a string or an integer, got {row['prompt_id']!r}")
    if not isinstance(row["response"], str):
        raise InputError(f"{where}: response must be a string, got {type(row['response']).__name__}")
    if row.get("answer") is not None and not isinstance(row["answer"], (str, int, float)):
        raise InputError(f"{where}: answer must be a string or a number, got {type(row['answer']).__name__}")
    choices = row.get("choices")
    if choices is not None and not (
        isinstance(choices, list) and all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices)
    ):
        raise InputError(f"{where}: choices must be a list of option texts (strings or numbers)")
    if choices is not None and len(choices) > len(LETTERS):
        raise InputError(
            f"{where}: {len(choices)} choices; at most {len(LETTERS)} (options {LETTERS[0]}-{LETTERS[-1]})"
        )
    return row


def group_rows(path: Path, rows: list[dict[str, Any]]) -> list[RolloutGroup]:
    """Group rows by ``prompt_id`` (first-appearance order); answer/choices must agree within a group."""
    groups: dict[str, _GroupRows] = {}
    for index, row in enumerate(rows):
        prompt_id = str(row["prompt_id"])
        answer = None if row.get("answer") is None else str(row["answer"])
        choices = tuple(str(c) for c in row.get("choices") or ())
        group = groups.setdefault(prompt_id, _GroupRows(row["_line"], answer, choices))
        if (answer, choices) != (group.answer, group.choices):
            raise InputError(
                f"{path}:{row['_line']}: prompt_id {prompt_id!r} has a different answer or choices than on line "
                f"{group.first_line}; all responses to one prompt must carry the same answer and choices"
            )
        group.rows.append(index)
        group.responses.append(row["response"])
    return [
        RolloutGroup(prompt_id, tuple(Rollout(r) for r in g.responses), g.answer, g.choices)
        for prompt_id, g in groups.items()
    ]


def score_file(stage: RewardStage, input_path: str | Path, output_path: str | Path) -> RewardBatch:
    """Read, score and write; returns the batch (for its diagnostics)."""
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.resolve() == input_path.resolve():
        raise InputError(f"--output {output_path} is the input file; write the scores to another file")
    rows = read_rows(input_path)
    groups = group_rows(input_path, rows)
    batch = stage.score_groups(groups)
    with atomic_writer(output_path) as f:
        for row in _scored_rows(rows, batch):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return batch


def _scored_rows(rows: list[dict[str, Any]], batch: RewardBatch) -> Iterator[dict[str, Any]]:
    by_prompt = {g.prompt_id: iter(g.outputs) for g in batch}
    for row in rows:
        out = next(by_prompt[str(row["prompt_id"])])
        scored = {k: v for k, v in row.items() if k != "_line"}
        scored.update(
            extracted=out.extracted, pseudo_label=out.pseudo_label, reward=out.reward, vote_share=out.vote_share
        )
        if out.correct is not None:
            scored["correct"] = out.correct
        yield scored
