"""MathVerse: problem versions, the question in the image, choices parsed from the text, letter answers."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, Features, Image, Value

from megatron_mmupt.data.presets.mathverse import VISION_ONLY_QUESTION
from megatron_mmupt.data.presets.options import OptionsError, choices_block
from megatron_mmupt.data.types import BadRow, BadRowReason

MC_QUESTION = (
    "As shown in the figure, DE parallel BC, then the size of angle CED is ()\nChoices:\nA:40°\nB:60°\nC:120°\nD:140°"
)
FEATURES = Features(
    {
        "sample_index": Value("string"),
        "problem_index": Value("string"),
        "problem_version": Value("string"),
        "question": Value("string"),
        "image": Image(),
        "answer": Value("string"),
        "question_type": Value("string"),
        "metadata": {
            "split": Value("string"),
            "source": Value("string"),
            "subject": Value("string"),
            "subfield": Value("string"),
        },
        "query_wo": Value("string"),
        "query_cot": Value("string"),
        "question_for_eval": Value("string"),
    }
)


def rows(png, **change):
    meta = {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"}
    data = {
        "sample_index": ["1", "5", "3425"],
        "problem_index": ["1", "1", "685"],
        "problem_version": ["Text Dominant", "Vision Only", "Vision Only"],
        "question": [MC_QUESTION, "", ""],
        "image": [{"bytes": png(), "path": None}] * 3,
        "answer": ["D", "(C)", "14"],
        "question_type": ["multi-choice", "multi-choice", "free-form"],
        "metadata": [meta] * 3,
        "query_wo": ["Please directly answer ...", "According to the question shown in the image, ...", "..."],
        "query_cot": ["Please first conduct reasoning ...", "According to the question shown in the image, ...", "..."],
        "question_for_eval": [MC_QUESTION, "the size of angle CED is ()\nChoices: ...", "Find L."],
    }
    return {**data, **change}


def test_hub_parquet_versions(tmp_path, source, png):
    Dataset.from_dict(rows(png), features=FEATURES).to_parquet(tmp_path / "testmini.parquet")
    src = source(tmp_path / "testmini.parquet", "mathverse", split="testmini")
    text, vision_mc, vision_free = src.example(0), src.example(1), src.example(2)
    assert text.id == "1"
    assert text.question == MC_QUESTION  # kept verbatim: the options are already in the text
    assert text.choices == ("40°", "60°", "120°", "140°")
    assert text.answer == "D"
    assert text.choices_in_question is True
    assert text.metadata["problem_version"] == "Text Dominant"
    assert (text.metadata["subject"], text.metadata["subfield"], text.metadata["problem_index"]) == (
        "Plane Geometry",
        "Angle",
        "1",
    )
    assert text.metadata["question_for_eval"] == MC_QUESTION
    assert text.images == ({"bytes": png(), "path": None},)
    assert vision_mc.question == VISION_ONLY_QUESTION
    assert vision_mc.metadata["question_in_image"] is True
    assert vision_mc.choices == ()  # the options are in the image
    assert vision_mc.answer == "C"  # "(C)" travels as the bare letter
    assert (vision_free.answer, vision_free.metadata["question_type"]) == ("14", "free-form")


def test_github_text_only_json_has_no_image(tmp_path, source):
    row = {
        "sample_index": "1",
        "problem_index": "1",
        "problem_version": "Text Only",
        "question": MC_QUESTION,
        "image": "",
        "answer": "D",
        "question_type": "multi-choice",
        "metadata": {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"},
        "query_wo": "...",
        "query_cot": "...",
    }
    (tmp_path / "testmini_text_only.json").write_text(json.dumps([row]))
    example = source(tmp_path / "testmini_text_only.json", "mathverse").example(0)
    assert example.images == ()
    assert example.choices == ("40°", "60°", "120°", "140°")
    assert example.metadata["question_for_eval"] is None


@pytest.mark.parametrize(
    ("change", "reason", "column"),
    [
        (
            {"problem_version": ["Text Lite", "Vision Only", "Vision Only"], "question": ["  ", "", ""]},
            BadRowReason.EMPTY_QUESTION,
            "question",
        ),
        ({"question": ["Which?\nChoices:\nA:1\nC:3", "", ""]}, BadRowReason.BAD_VALUE, "question"),
        ({"problem_version": ["Text Heavy", "Vision Only", "Vision Only"]}, BadRowReason.BAD_VALUE, "problem_version"),
        ({"image": [None, None, None]}, BadRowReason.BAD_VALUE, "image"),
    ],
)
def test_bad_rows(tmp_path, source, png, change, reason, column):
    Dataset.from_dict(rows(png, **change), features=FEATURES).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "t.parquet", "mathverse").example(0)
    assert (caught.value.reason, caught.value.row) == (reason, "1")
    assert f"'{column}'" in caught.value.detail


@pytest.mark.parametrize(
    ("question", "choices"),
    [
        ("Find the true bearing.\nChoice:\nA. 090^\\circ T\nB. 180^\\circ T", ("090^\\circ T", "180^\\circ T")),
        ("Find x.\nChoices:\nA:26°\nB:74°\nC:64°\nD:54°\n102", ("26°", "74°", "64°", "54°")),  # stray line
        ("How long is AB?", None),
    ],
)
def test_choices_block_of_real_testmini_questions(question, choices):
    assert choices_block(question) == choices


def test_choices_block_out_of_order_is_an_error():
    with pytest.raises(OptionsError, match="lists option C where B belongs"):
        choices_block("Which?\nChoices:\nA:1\nC:3")
