"""MathVision: the MATH-V jsonl (images at the repository root) and the hub parquet (decoded_image)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, Features, Image, List, Value

from megatron_mmupt.data.types import BadRow, BadRowReason

ROWS = [
    {
        "id": "1",
        "question": "Which number should be written in place of the question mark?\n<image1>",
        "options": [],
        "answer": "60",
        "solution": None,
        "level": 2,
        "subject": "arithmetic",
        "image": "images/1.jpg",
    },
    {
        "id": "34",
        "question": "Max has cut a rectangle into two pieces. One piece looks like:\n<image1>\nWhat does the other piece look like?\n<image2>",
        "options": ["A", "B", "C", "D", "E"],
        "answer": "E",
        "solution": None,
        "level": 1,
        "subject": "combinatorial geometry",
        "image": "images/34.jpg",
    },
]


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_math_v_jsonl_with_image_root(tmp_path, source, write_png):
    write_png("MATH-V/images/1.jpg")
    write_png("MATH-V/images/34.jpg")
    path = write_jsonl(tmp_path / "MATH-V" / "data" / "test.jsonl", ROWS)
    src = source(path, "mathvision", split="test", image_root=str(tmp_path / "MATH-V"))
    free, mc = src.example(0), src.example(1)
    assert (free.id, free.answer, free.choices) == ("1", "60", ())
    assert free.images == (str(tmp_path / "MATH-V" / "images" / "1.jpg"),)
    assert free.metadata == {"level": 2, "subject": "arithmetic"}
    assert mc.question.endswith("<image2>")  # the <imageN> tags stay text: one composite image per row
    assert mc.choices == ("A", "B", "C", "D", "E")
    assert mc.answer == "E"
    assert mc.choices_in_question is False


def test_without_image_root_the_paths_resolve_against_data_and_fail_clearly(tmp_path, source):
    path = write_jsonl(tmp_path / "MATH-V" / "data" / "test.jsonl", ROWS)
    with pytest.raises(BadRow) as caught:
        source(path, "mathvision").example(0)
    assert caught.value.reason is BadRowReason.BAD_IMAGE
    assert "set data.source.image_root=" in caught.value.detail


FEATURES = Features(
    {
        "id": Value("string"),
        "question": Value("string"),
        "options": List(Value("string")),
        "image": Value("string"),
        "decoded_image": Image(),
        "answer": Value("string"),
        "solution": Value("string"),
        "level": Value("int64"),
        "subject": Value("string"),
    }
)


def hub_rows(png, **change):
    data = {key: [row[key] for row in ROWS] for key in ROWS[0]}
    data["decoded_image"] = [{"bytes": png(), "path": None}, {"bytes": png("blue"), "path": None}]
    return {**data, **change}


def test_hub_parquet_uses_decoded_image(tmp_path, source, png):
    Dataset.from_dict(hub_rows(png), features=FEATURES).to_parquet(tmp_path / "testmini.parquet")
    example = source(tmp_path / "testmini.parquet", "mathvision", split="testmini").example(1)
    assert example.images == ({"bytes": png("blue"), "path": None},)
    assert (example.answer, example.metadata["subject"]) == ("E", "combinatorial geometry")


@pytest.mark.parametrize(("change", "column"), [({"answer": ["60", "F"]}, "answer"), ({"level": [2, 9]}, "level")])
def test_bad_values(tmp_path, source, png, change, column):
    Dataset.from_dict(hub_rows(png, **change), features=FEATURES).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "t.parquet", "mathvision").example(1)
    assert (caught.value.reason, caught.value.row) == (BadRowReason.BAD_VALUE, "34")
    assert f"column '{column}'" in caught.value.detail
