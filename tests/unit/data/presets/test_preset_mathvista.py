"""MathVista: the hub parquet (decoded_image) and the GitHub testmini.json (pid -> record, image paths)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, Features, Image, List, Value

from megatron_mmupt.data.types import BadRow, BadRowReason

META = {
    "category": Value("string"),
    "context": Value("string"),
    "grade": Value("string"),
    "img_height": Value("int64"),
    "img_width": Value("int64"),
    "language": Value("string"),
    "skills": List(Value("string")),
    "source": Value("string"),
    "split": Value("string"),
    "task": Value("string"),
}
FEATURES = Features(
    {
        "pid": Value("string"),
        "question": Value("string"),
        "image": Value("string"),
        "decoded_image": Image(),
        "choices": List(Value("string")),
        "unit": Value("string"),
        "precision": Value("float64"),
        "answer": Value("string"),
        "question_type": Value("string"),
        "answer_type": Value("string"),
        "metadata": META,
        "query": Value("string"),
    }
)


def meta(**kw):
    base = dict.fromkeys(META)
    base.update(skills=[], img_height=1, img_width=1)
    return {**base, **kw}


def rows(png):
    return {
        "pid": ["3", "1"],
        "question": [
            "△ABC的两内角平分线OB、OC相交于点O，若∠A＝110°，则∠BOC＝（）",
            "By what distance d is the spring compressed?",
        ],
        "image": ["images/3.jpg", "images/1.jpg"],
        "decoded_image": [{"bytes": png(), "path": None}, None],
        "choices": [["135°", "140°", "145°", "150°"], None],
        "unit": [None, "m"],
        "precision": [None, 1.0],
        "answer": ["145°", "1.2"],
        "question_type": ["multi_choice", "free_form"],
        "answer_type": ["text", "float"],
        "metadata": [
            meta(
                category="math-targeted-vqa",
                task="geometry problem solving",
                skills=["geometry reasoning"],
                language="chinese",
            ),
            meta(category="math-targeted-vqa", task="textbook question answering", skills=["scientific reasoning"]),
        ],
        "query": ["Hint: ... Choices:\n(A) 135°", "Hint: ... float"],
    }


def test_hub_parquet_maps_fields_and_falls_back_to_the_image_path(tmp_path, source, png, write_png):
    write_png("data/images/1.jpg")
    Dataset.from_dict(rows(png), features=FEATURES).to_parquet(tmp_path / "data" / "testmini-00000-of-00001.parquet")
    src = source(tmp_path / "data" / "testmini-00000-of-00001.parquet", "mathvista", split="testmini")
    mc, free = src.example(0), src.example(1)
    assert mc.id == "3"
    assert mc.images == ({"bytes": png(), "path": None},)
    assert mc.choices == ("135°", "140°", "145°", "150°")
    assert mc.answer == "145°"  # MathVista answers multiple choice with the option text
    assert mc.metadata["question_type"] == "multi_choice"
    assert mc.metadata["skills"] == ["geometry reasoning"]
    assert mc.metadata["language"] == "chinese"
    assert mc.choices_in_question is False
    assert free.images == (str(tmp_path / "data" / "images" / "1.jpg"),)  # decoded_image null -> image path
    assert free.choices == ()
    assert (free.metadata["precision"], free.metadata["unit"], free.metadata["answer_type"]) == (1, "m", "float")
    assert free.metadata["query"] == "Hint: ... float"
    assert free.choices_in_question is False


def test_github_json_object_of_records(tmp_path, source, write_png):
    write_png("data/images/5.jpg")
    record = {
        "question": "Find $m\\angle H$",
        "image": "images/5.jpg",
        "choices": ["97", "102", "107", "122"],
        "unit": None,
        "precision": None,
        "answer": "97",
        "question_type": "multi_choice",
        "answer_type": "text",
        "pid": "5",
        "metadata": {
            "split": "testmini",
            "source": "Geometry3K",
            "category": "math-targeted-vqa",
            "skills": ["geometry reasoning"],
        },
    }
    (tmp_path / "data" / "testmini.json").write_text(json.dumps({"5": record}))
    example = source(tmp_path / "data" / "testmini.json", "mathvista").example(0)
    assert example.id == "5"
    assert example.images == (str(tmp_path / "data" / "images" / "5.jpg"),)
    assert example.choices == ("97", "102", "107", "122")
    assert example.metadata["source"] == "Geometry3K"
    assert example.metadata["query"] is None  # testmini.json has no query column


@pytest.mark.parametrize(
    ("change", "reason", "column"),
    [
        ({"choices": [None, None]}, BadRowReason.BAD_VALUE, "choices"),
        ({"question_type": ["multiple", "free_form"]}, BadRowReason.BAD_VALUE, "question_type"),
        ({"question": ["", "q"]}, BadRowReason.EMPTY_QUESTION, "question"),
    ],
)
def test_bad_rows(tmp_path, source, png, change, reason, column):
    Dataset.from_dict({**rows(png), **change}, features=FEATURES).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "m.parquet", "mathvista").example(0)
    assert (caught.value.reason, caught.value.row) == (reason, "3")
    assert f"'{column}'" in caught.value.detail


def test_missing_question_type_cannot_be_renamed(tmp_path, source, png):
    data = {k: v for k, v in rows(png).items() if k != "question_type"}
    features = Features({k: v for k, v in FEATURES.items() if k != "question_type"})
    Dataset.from_dict(data, features=features).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(BadRow) as caught:
        source(tmp_path / "m.parquet", "mathvista").example(0)
    assert caught.value.reason is BadRowReason.MISSING_COLUMN
    assert "column 'question_type' missing; the mathvista preset reads" in caught.value.detail
    assert "cannot be renamed" in caught.value.detail
