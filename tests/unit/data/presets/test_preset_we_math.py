"""We-Math: the option string split into choices, the answer letter, step keys; real testmini strings."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, Features, Image, Value

from megatron_mmupt.data.presets.options import OptionsError, split_option_string
from megatron_mmupt.data.types import BadRow, BadRowReason


def record(**change):
    row = {
        "ID": "2steps_1",
        "split": "testmini",
        "knowledge concept": "Conversion Rates and Calculations Between Length Units",
        "question": "According to the diagram and the length information provided: OA = ( ) m, AB = ( ) m",
        "option": "A. 300, 400;B. 400, 300;C. 3000, 4000;D. 4000, 3000; E. No correct answer",
        "answer": "C",
        "image_path": "2steps/image/1-1.png",
        "key": "2steps_1",
        "question number": 1,
        "knowledge concept description": "1 kilometer (km) = 1000 meters (m) ...",
    }
    return {**row, **change}


def test_github_json_rows(tmp_path, source, write_png):
    write_png("data/2steps/image/1-1.png")
    rows = [record(), record(ID="2steps_1", key="2steps_multi", **{"question number": 361}, answer="A")]
    (tmp_path / "data" / "testmini.json").write_text(json.dumps(rows))
    src = source(tmp_path / "data" / "testmini.json", "we_math", split="testmini")
    example, multi = src.example(0), src.example(1)
    assert example.id == "1"  # question number: ID is shared by the sub-questions of one problem
    assert example.choices == ("300, 400", "400, 300", "3000, 4000", "4000, 3000", "No correct answer")
    assert example.answer == "C"
    assert example.images == (str(tmp_path / "data" / "2steps" / "image" / "1-1.png"),)
    assert example.metadata["we_math_id"] == "2steps_1"
    assert example.metadata["knowledge_concept"] == "Conversion Rates and Calculations Between Length Units"
    assert (example.metadata["num_steps"], example.metadata["step"]) == (2, 1)
    assert example.choices_in_question is False
    assert (multi.id, multi.metadata["step"], multi.metadata["key"]) == ("361", "multi", "2steps_multi")


def test_hub_parquet_with_image_struct(tmp_path, source, png):
    row = record(image_path={"bytes": png(), "path": "1-1.png"})
    features = Features({k: Value("int64") if k == "question number" else Value("string") for k in row})
    features["image_path"] = Image()
    Dataset.from_dict({k: [v] for k, v in row.items()}, features=features).to_parquet(tmp_path / "t.parquet")
    example = source(tmp_path / "t.parquet", "we_math").example(0)
    assert example.images == ({"bytes": png(), "path": "1-1.png"},)
    assert example.choices[2] == "3000, 4000"


@pytest.mark.parametrize(
    ("text", "choices", "letters"),
    [
        ("A. 3;B. 4; C. No correct answer", ("3", "4", "No correct answer"), "ABC"),
        (
            "A. ①; ③;B. ②; ③;C. ②; ④;D. ①; ④; E. No correct answer",
            ("①; ③", "②; ③", "②; ④", "①; ④", "No correct answer"),
            "ABCDE",
        ),
        ("A. 45° B. 60° ;C. 120°; D. No correct answer", ("45°", "60°", "120°", "No correct answer"), "ABCD"),
        (
            "A. ①;B．②;C. ③; D. Cannot be determined; E. No correct answer",
            ("①", "②", "③", "Cannot be determined", "No correct answer"),
            "ABCDE",
        ),
        (
            "A. Shape A is moved to get Shape ;C.; B. Shape A is turned to get Shape ;C.; C. No.; D. No correct answer",
            ("Shape A is moved to get Shape ;C.", "Shape A is turned to get Shape ;C.", "No.", "No correct answer"),
            "ABCD",
        ),
        (
            "A. Yes, rotated around point ;O.;B. Yes, turned around point ;O.;C. No.; F. No correct answer",
            ("Yes, rotated around point ;O.", "Yes, turned around point ;O.", "No.", "No correct answer"),
            "ABCF",
        ),
    ],
)
def test_real_testmini_option_strings(text, choices, letters):
    assert split_option_string(text) == (choices, letters)


@pytest.mark.parametrize("text", ["3; 4; 5", "A. 3", "A. ;B. 4"])
def test_unsplittable_option_strings(text):
    with pytest.raises(OptionsError):
        split_option_string(text)


def test_skipped_letters_are_relettered_with_the_answer(tmp_path, source, write_png):
    write_png("2steps/image/1-1.png")
    row = record(option="A. Yes, rotated;B. Yes, turned;C. No.; F. No correct answer", answer="F")
    (tmp_path / "t.json").write_text(json.dumps([row]))
    example = source(tmp_path / "t.json", "we_math").example(0)
    assert example.choices == ("Yes, rotated", "Yes, turned", "No.", "No correct answer")
    assert example.answer == "D"
    assert example.metadata["option_letters_as_written"] == "ABCF"


@pytest.mark.parametrize(
    ("change", "column"),
    [({"option": "300, 400 or 3000, 4000"}, "option"), ({"answer": "F"}, "answer"), ({"key": "two steps"}, "key")],
)
def test_bad_values_name_the_column(tmp_path, source, write_png, change, column):
    write_png("2steps/image/1-1.png")
    (tmp_path / "t.json").write_text(json.dumps([record(**change)]))
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "t.json", "we_math").example(0)
    assert (caught.value.reason, caught.value.row) == (BadRowReason.BAD_VALUE, "1")
    assert f"column '{column}'" in caught.value.detail
