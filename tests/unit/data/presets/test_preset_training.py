"""The MM-UPT training sets in the EasyR1 schema: mmr1, geometry3k, geoqa, synthesized."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, DatasetDict, Features, Image, List, Value

from megatron_mmupt.data.types import BadRow, BadRowReason

EASYR1 = Features({"images": List(Image()), "problem": Value("string"), "answer": Value("string")})


def test_mmr1_parquet_keeps_placeholders_and_undecoded_images(tmp_path, source, png):
    data = {
        "images": [[{"bytes": png("red"), "path": None}], [{"bytes": png("blue"), "path": "b.png"}] * 2],
        "problem": ["<image>What is the area?", "<image><image>Compare the two."],
        "answer": ["12", None],
    }
    Dataset.from_dict(data, features=EASYR1).to_parquet(tmp_path / "train-00000-of-00001.parquet")
    src = source(tmp_path / "train-00000-of-00001.parquet", "mmr1", name="mmr1")
    first, second = src.example(0), src.example(1)
    assert first.id == "mmr1-0"
    assert first.question == "<image>What is the area?"
    assert first.images == ({"bytes": png("red"), "path": None},)
    assert first.answer == "12"
    assert second.question.count("<image>") == len(second.images) == 2
    assert second.answer is None
    assert (first.choices, first.metadata) == ((), {})


def test_geometry3k_save_to_disk_split_keeps_choices_out_of_the_prompt(tmp_path, source, png):
    features = Features(
        {
            "images": List(Image()),
            "problem": Value("string"),
            "answer": Value("string"),
            "id": Value("int64"),
            "choices": List(Value("string")),
            "ground_truth": Value("string"),
        }
    )
    row = {"images": [[{"bytes": png(), "path": None}]], "problem": ["<image>Find x."], "answer": ["48"], "id": [7]}
    test = Dataset.from_dict({**row, "choices": [["24", "48", "60", "96"]], "ground_truth": ["B"]}, features=features)
    DatasetDict({"train": test, "test": test}).save_to_disk(tmp_path / "geometry3k")
    example = source(tmp_path / "geometry3k", "geometry3k", split="test").example(0)
    assert (example.id, example.question, example.answer) == ("7", "<image>Find x.", "48")
    assert example.choices == ()  # MM-UPT poses Geometry3K free-form: the options are not offered
    assert example.metadata == {"choices": ["24", "48", "60", "96"], "ground_truth": "B"}
    assert isinstance(example.images[0], dict)


def test_geometry3k_missing_problem_names_the_override(tmp_path, source, png):
    Dataset.from_dict({"question": ["Find x."], "images": [[]]}).to_parquet(tmp_path / "g.parquet")
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "g.parquet", "geometry3k").example(0)
    assert caught.value.reason is BadRowReason.MISSING_COLUMN
    assert caught.value.detail.startswith("column 'problem' missing; the geometry3k preset reads problem, images")
    assert "pass data.source.columns.question=<your column>" in caught.value.detail


def test_geoqa_r1v_arrow_file_takes_the_answer_tag_of_solution(tmp_path, source, png):
    features = Features({"image": Image(), "problem": Value("string"), "solution": Value("string")})
    data = {
        "image": [{"bytes": png(), "path": None}, {"bytes": png("blue"), "path": None}],
        "problem": ["As shown in the figure, angle BOC is ()", "Find AB."],
        "solution": ["<answer> 145° </answer>", "6cm"],
    }
    Dataset.from_dict(data, features=features).save_to_disk(tmp_path / "saved")
    src = source(tmp_path / "saved" / "data-00000-of-00001.arrow", "geoqa")
    first, second = src.example(0), src.example(1)
    assert first.answer == "145°"
    assert second.answer == "6cm"  # a solution without the tag is kept as written
    assert first.question == "As shown in the figure, angle BOC is ()"
    assert len(first.images) == 1 and first.images[0]["bytes"] == png()


def test_geoqa_easyr1_copy_reads_images_and_answer(tmp_path, source, png):
    data = {"images": [[{"bytes": png(), "path": None}]], "problem": ["<image>Find the angle."], "answer": ["30°"]}
    Dataset.from_dict(data, features=EASYR1).to_parquet(tmp_path / "geoqa.parquet")
    example = source(tmp_path / "geoqa.parquet", "geoqa").example(0)
    assert (example.question, example.answer, len(example.images)) == ("<image>Find the angle.", "30°", 1)


def test_synthesized_json_accepts_question_and_image_without_answer(tmp_path, source, write_png):
    image = write_png("syn/0.png")
    rows = [{"question": "<image>A new question about the figure?", "image": str(image)}]
    (tmp_path / "syn.json").write_text(json.dumps(rows))
    example = source(tmp_path / "syn.json", "synthesized").example(0)
    assert example.question == "<image>A new question about the figure?"
    assert example.images == (str(image),)
    assert example.answer is None
    assert example.id == "syn-0"


def test_synthesized_without_a_question_column_lists_both_names(tmp_path, source):
    (tmp_path / "syn.json").write_text(json.dumps([{"text": "q", "images": []}]))
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "syn.json", "synthesized").example(0)
    assert "column 'problem' or 'question' missing" in caught.value.detail
