"""The generic preset: question / images / answer? / choices? / id?, overrides, and every kind of bad row."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from megatron_mmupt.data.types import BadRow, BadRowReason


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_rows_map_with_relative_paths_letters_and_choices(tmp_path, source, write_png):
    absolute = write_png("elsewhere/b.png")
    write_png("data/images/a.png")
    rows = [
        {
            "id": "q1",
            "question": "<image> Which is larger?",
            "images": ["images/a.png"],
            "answer": "(B)",
            "choices": ["1", "2"],
        },
        {"id": 7, "question": "Find x.", "images": [str(absolute)], "answer": 48, "choices": None},
    ]
    src = source(write_jsonl(tmp_path / "data" / "set.jsonl", rows), "generic")
    first, second = src.example(0), src.example(1)
    assert first.id == "q1"
    assert first.question == "<image> Which is larger?"
    assert first.images == (str(tmp_path / "data" / "images" / "a.png"),)
    assert first.answer == "B"  # a letter answer travels as the bare letter
    assert first.choices == ("1", "2")
    assert first.metadata == {} and first.choices_in_question is False
    assert (second.id, second.images, second.answer, second.choices, second.metadata) == (
        "7",
        (str(absolute),),
        "48",
        (),
        {},
    )


def test_bytes_image_column_and_default_ids(tmp_path, source, png):
    frame = pd.DataFrame({"question": ["What color?", "And this?"], "image": [png("red"), None]})
    frame.to_parquet(tmp_path / "colors.parquet")
    src = source(tmp_path / "colors.parquet", "generic")
    assert src.example(0).id == "colors-0"
    assert src.example(0).images == (png("red"),)
    assert src.example(1).images == ()  # a null image cell is a text-only row
    assert src.example(1).answer is None


def test_column_overrides_read_other_columns(tmp_path, source, write_png):
    write_png("pics/p.png")
    rows = [{"uid": "a", "prompt": "Solve.", "pic": "pics/p.png", "label": "3", "opts": ["3", "4"]}]
    columns = {"question": "prompt", "images": "pic", "answer": "label", "choices": "opts", "id": "uid"}
    example = source(write_jsonl(tmp_path / "x.jsonl", rows), "generic", columns=columns).example(0)
    assert (example.id, example.question, example.answer, example.choices) == ("a", "Solve.", "3", ("3", "4"))
    assert example.images == (str(tmp_path / "pics" / "p.png"),)


def bad_row(src, index=0) -> BadRow:
    with pytest.raises(BadRow) as caught:
        src.example(index)
    return caught.value


def test_missing_column_names_the_column_the_preset_and_the_override(tmp_path, source):
    src = source(write_jsonl(tmp_path / "x.jsonl", [{"prompt": "Solve.", "images": None}]), "generic")
    bad = bad_row(src)
    assert bad.reason is BadRowReason.MISSING_COLUMN
    assert bad.row == "x-0"
    assert "column 'question' missing; the generic preset reads question, images" in bad.detail
    assert "pass data.source.columns.question=<your column>" in bad.detail
    assert "the row has: prompt, images" in bad.detail


def test_override_naming_a_missing_column_is_reported_as_such(tmp_path, source):
    src = source(
        write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "images": None}]), "generic", columns={"answer": "gt"}
    )
    bad = bad_row(src)
    assert bad.reason is BadRowReason.MISSING_COLUMN
    assert "column 'gt' (from data.source.columns.answer) missing" in bad.detail


@pytest.mark.parametrize(
    ("row", "reason", "column"),
    [
        ({"question": "   ", "images": None}, BadRowReason.EMPTY_QUESTION, "question"),
        ({"question": None, "images": None}, BadRowReason.EMPTY_QUESTION, "question"),
        ({"question": "q", "images": None, "choices": "A. 1; B. 2"}, BadRowReason.BAD_VALUE, "choices"),
        ({"question": "q", "images": None, "choices": [str(i) for i in range(11)]}, BadRowReason.BAD_VALUE, "choices"),
        ({"question": "q", "images": [1]}, BadRowReason.BAD_VALUE, "images"),
        ({"question": "q", "images": ["https://x.org/a.png"]}, BadRowReason.BAD_VALUE, "images"),
        ({"question": "q", "images": ["missing/a.png"]}, BadRowReason.BAD_IMAGE, "images"),
        ({"question": "q", "images": None, "id": ""}, BadRowReason.BAD_VALUE, "id"),
        ({"question": "q", "images": None, "answer": ["1", "2"]}, BadRowReason.BAD_VALUE, "answer"),
    ],
)
def test_bad_rows_name_the_column(tmp_path, source, row, reason, column):
    bad = bad_row(source(write_jsonl(tmp_path / "x.jsonl", [row]), "generic"))
    assert bad.reason is reason
    assert f"'{column}'" in bad.detail


def test_unresolvable_relative_path_points_at_image_root(tmp_path, source):
    bad = bad_row(source(write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "images": "img/1.png"}]), "generic"))
    assert bad.reason is BadRowReason.BAD_IMAGE
    assert f"resolved against {str(tmp_path)!r} does not exist" in bad.detail
    assert "set data.source.image_root=" in bad.detail


def test_image_root_overrides_the_folder_of_relative_paths(tmp_path, source, write_png):
    write_png("repo/img/1.png")
    (tmp_path / "repo" / "data").mkdir()
    path = write_jsonl(tmp_path / "repo" / "data" / "x.jsonl", [{"question": "q", "images": "img/1.png"}])
    example = source(path, "generic", image_root=str(tmp_path / "repo")).example(0)
    assert example.images == (str(tmp_path / "repo" / "img" / "1.png"),)


@pytest.mark.parametrize(
    ("question", "listed"),
    [
        ("How many squares?\nChoices:\n(A) 2\n(B) 5", True),  # the demo task's layout
        ("How many squares?\nChoices:\nA. 2\nB. 5", True),
        ("How many squares?", False),  # the renderer appends them
        ("How many squares?\nChoices:\n(A) 2\n(B) 6", False),  # other options: appended, not trusted
    ],
)
def test_choices_already_in_the_question_are_not_appended_again(tmp_path, source, png, question, listed):
    frame = pd.DataFrame({"question": [question], "image": [png("red")], "choices": [["2", "5"]]})
    frame.to_parquet(tmp_path / "mc.parquet")
    assert source(tmp_path / "mc.parquet", "generic").example(0).choices_in_question is listed
