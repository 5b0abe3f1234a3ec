"""Every benchmark on a few rows written in its own layout: read, encoded, graded, broken down as its authors do.

The engine answers from a script, so each test knows which samples are right: option texts must match their
letters, equivalent numbers must vote together, and the breakdowns must group the questions as the benchmark's
scorer does.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from datasets import Dataset, Features, Image, List, Value

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.evaluation.benchmarks import BENCHMARKS, benchmark_config, parse_benchmark_arg
from megatron_mmupt.utils.errors import InputError


def summaries(groups):
    return {name: (s.questions, s.pass_at_1, s.maj_at_n) for name, s in groups.items()}


def test_mathvista_github_json(tmp_path, write_png, eval_config, evaluate, scripted):
    write_png("mathvista/images/1.png")
    write_png("mathvista/images/2.png")
    meta = {"category": "math-targeted-vqa", "context": "geometry diagram", "grade": "high school", "img_height": 28,
            "img_width": 28, "language": "english", "source": "Geometry3K", "split": "testmini"}  # fmt: skip
    records = {
        "1": {"pid": "1", "question": "Find the angle BOC.", "image": "images/1.png",
              "choices": ["135°", "140°", "145°", "150°"], "unit": None, "precision": None, "answer": "145°",
              "question_type": "multi_choice", "answer_type": "text", "query": "...",
              "metadata": {**meta, "task": "geometry problem solving",
                           "skills": ["geometry reasoning", "algebraic reasoning"]}},
        "2": {"pid": "2", "question": "By what distance is the spring compressed?", "image": "images/2.png",
              "choices": None, "unit": "m", "precision": 1.0, "answer": "1.2", "question_type": "free_form",
              "answer_type": "float", "query": "...",
              "metadata": {**meta, "task": "textbook question answering", "skills": ["scientific reasoning"]}},
    }  # fmt: skip
    (tmp_path / "mathvista" / "testmini.json").write_text(json.dumps(records))
    config = eval_config(("mathvista", tmp_path / "mathvista" / "testmini.json"))
    # "145°" is option C: the letter and the option text vote together; 1.2 == 1.20.
    engine = scripted({"1": ["C", "145°", "A", "B"], "2": ["1.20", "3", None, "1.2"]})
    (result,) = evaluate(config, engine)
    assert (result.summary.questions, result.summary.pass_at_1, result.summary.maj_at_n) == (2, 0.5, 1.0)
    assert list(result.breakdowns) == list(BENCHMARKS["mathvista"].metadata_keys)
    assert summaries(result.breakdowns["task"]) == {
        "geometry problem solving": (1, 0.5, 1.0),
        "textbook question answering": (1, 0.5, 1.0),
    }
    assert set(result.breakdowns["skills"]) == {"algebraic reasoning", "geometry reasoning", "scientific reasoning"}
    assert set(result.breakdowns["question_type"]) == {"multi_choice", "free_form"}
    assert result.items[0].metadata["skills"] == ["geometry reasoning", "algebraic reasoning"]


def we_math_row(number, key, answer, image):
    return {
        "ID": "2steps_1", "split": "testmini", "knowledge concept": "Angles and Length", "question": "Find OA.",
        "option": "A. 3; B. 4; C. 5", "answer": answer, "image_path": image, "key": key,
        "question number": number, "knowledge concept description": "...",
    }  # fmt: skip


def test_we_math_github_json_steps_and_four_dimensions(tmp_path, write_png, eval_config, evaluate, scripted):
    for name in ("1-1", "1-2", "1-multi"):
        write_png(f"wemath/2steps/image/{name}.png")
    rows = [
        we_math_row(1, "2steps_1", "A", "2steps/image/1-1.png"),
        we_math_row(2, "2steps_2", "B", "2steps/image/1-2.png"),
        we_math_row(361, "2steps_multi", "C", "2steps/image/1-multi.png"),
    ]
    (tmp_path / "wemath" / "testmini.json").write_text(json.dumps(rows))
    config = eval_config(("we_math", tmp_path / "wemath" / "testmini.json"))
    # Sub-question 1 right, 2 wrong, the composite right ("(C)" and "5", its option text): rote memorization.
    engine = scripted({"1": ["A"], "2": ["A"], "361": ["(C)", "5"]})
    (result,) = evaluate(config, engine)
    assert summaries(result.breakdowns["steps"]) == {"S1 one-step": (2, 0.5, 0.5), "S2 two-step": (1, 1.0, 1.0)}
    assert list(result.breakdowns["knowledge_concept"]) == ["Angles and Length"]
    extra = result.extra
    assert (extra["problems"], extra["CM_strict"], extra["CM_loose"], extra["RM_strict"]) == (1, 0.0, 1.0, 1.0)
    assert (extra["score_strict"], extra["score_loose"]) == (0.0, 1.0)


MATHVERSE_FEATURES = Features(
    {
        "sample_index": Value("string"), "problem_index": Value("string"), "problem_version": Value("string"),
        "question": Value("string"), "image": Image(), "answer": Value("string"), "question_type": Value("string"),
        "metadata": {"split": Value("string"), "source": Value("string"), "subject": Value("string"),
                     "subfield": Value("string")},
        "query_wo": Value("string"), "query_cot": Value("string"), "question_for_eval": Value("string"),
    }
)  # fmt: skip


def test_mathverse_hub_parquet(tmp_path, eval_config, evaluate, scripted, png):
    question = "DE parallel BC, then the size of angle CED is ()\nChoices:\nA:40°\nB:60°\nC:120°\nD:140°"
    meta = {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"}
    data = {
        "sample_index": ["1", "3425"], "problem_index": ["1", "685"],
        "problem_version": ["Text Dominant", "Vision Only"], "question": [question, ""],
        "image": [{"bytes": png(), "path": None}] * 2, "answer": ["D", "14"],
        "question_type": ["multi-choice", "free-form"], "metadata": [meta, {**meta, "subfield": "Length"}],
        "query_wo": ["..."] * 2, "query_cot": ["..."] * 2, "question_for_eval": [question, "Find L."],
    }  # fmt: skip
    Dataset.from_dict(data, features=MATHVERSE_FEATURES).to_parquet(tmp_path / "testmini.parquet")
    config = eval_config(("mathverse", tmp_path / "testmini.parquet"))
    # "140°" is option D; a 1-1 tie between 14 and 15 goes to the first sampled, 14.
    engine = scripted({"1": ["140°", "D", "A", "D"], "3425": ["14", "15"]})
    (result,) = evaluate(config, engine)
    assert summaries(result.breakdowns["problem_version"]) == {
        "Text Dominant": (1, 0.75, 1.0),
        "Vision Only": (1, 0.5, 1.0),
    }
    assert list(result.breakdowns["subfield"]) == ["Angle", "Length"]
    assert result.summary.ties == 0.5


def test_mathvision_jsonl_needs_the_repository_root_for_its_images(
    tmp_path, write_png, eval_config, evaluate, scripted
):
    write_png("mathv/images/1.jpg")
    write_png("mathv/images/2.jpg")
    rows = [
        {"id": "1", "question": "<image1> Which figure is shaded?", "options": ["A", "B", "C", "D", "E"],
         "image": "images/1.jpg", "answer": "B", "solution": None, "level": 2, "subject": "logic"},
        {"id": "2", "question": "<image1> How many squares?", "options": [], "image": "images/2.jpg",
         "answer": "7", "solution": None, "level": 3, "subject": "counting"},
    ]  # fmt: skip
    (tmp_path / "mathv" / "data").mkdir()
    (tmp_path / "mathv" / "data" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = ("mathvision", tmp_path / "mathv" / "data" / "test.jsonl")
    engine = scripted({"1": ["B", "(B)", "C", "B"], "2": ["7", "8"]})
    with pytest.raises(InputError, match=r"benchmark mathvision: the images of .* cannot be read: .*image_root"):
        evaluate(eval_config(path), engine)
    assert engine.calls == []  # refused before sampling
    (result,) = evaluate(
        eval_config(path, overrides=[f"benchmarks.mathvision.image_root={tmp_path / 'mathv'}"]), engine
    )
    assert summaries(result.breakdowns["subject"]) == {"counting": (1, 0.5, 1.0), "logic": (1, 0.75, 1.0)}
    assert list(result.breakdowns["level"]) == ["2", "3"]


def test_geometry3k_is_free_form(tmp_path, eval_config, evaluate, scripted, png):
    features = Features({"images": List(Image()), "problem": Value("string"), "answer": Value("string"),
                         "id": Value("int64"), "choices": List(Value("string")), "ground_truth": Value("string")})  # fmt: skip
    data = {"images": [[{"bytes": png(), "path": None}]], "problem": ["<image>Find x."], "answer": ["48"],
            "id": [0], "choices": [["12", "24", "36", "48"]], "ground_truth": ["D"]}  # fmt: skip
    Dataset.from_dict(data, features=features).to_parquet(tmp_path / "test.parquet")
    # Options are not offered: the letter D is no answer to "Find x."; the value is.
    engine = scripted({"0": ["48", "D", "48.0", None]})
    (result,) = evaluate(eval_config(("geometry3k", tmp_path / "test.parquet")), engine)
    assert (result.summary.pass_at_1, result.summary.maj_at_n, result.breakdowns) == (0.5, 1.0, {})
    assert result.items[0].answers == ("48", "D", "48.0", None)


def test_demo_split_breaks_down_by_type_and_difficulty(demo_dir, eval_config, evaluate, scripted):
    rows = pq.read_table(demo_dir / "test.parquet", columns=["id", "answer", "question_type", "difficulty"])
    rows = rows.slice(0, 6).to_pylist()
    engine = scripted({r["id"]: [r["answer"], "wrong"] for r in rows})
    config = eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.demo.max_rows=6"])
    (result,) = evaluate(config, engine)
    assert (result.summary.questions, result.summary.pass_at_1, result.summary.maj_at_n) == (6, 0.5, 1.0)
    assert set(result.breakdowns["question_type"]) == {r["question_type"] for r in rows}
    assert set(result.breakdowns["difficulty"]) == {str(r["difficulty"]) for r in rows}


def test_generic_data_with_metadata_columns(tmp_path, write_png, eval_config, evaluate, scripted):
    write_png("mine/a.png")
    rows = [
        {"id": "a", "question": "Which is larger?", "image": "a.png", "answer": "B", "choices": ["3", "5"],
         "category": "compare"},
        {"id": "b", "question": "What is 2+2?", "image": "a.png", "answer": "4", "choices": [], "category": "sum"},
    ]  # fmt: skip
    (tmp_path / "mine" / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = eval_config(
        ("generic", tmp_path / "mine" / "data.jsonl"), overrides=["benchmarks.generic.metadata_columns=category"]
    )
    (result,) = evaluate(config, scripted({"a": ["5", "B"], "b": ["4", "5"]}))
    assert summaries(result.breakdowns["category"]) == {"compare": (1, 1.0, 1.0), "sum": (1, 0.5, 1.0)}


def test_benchmark_arguments():
    assert parse_benchmark_arg("demo").source.path == "runs/demo-data/test.parquet"
    config = parse_benchmark_arg("mathvista=/data/MathVista")
    assert (config.source.path, config.source.preset, config.source.split) == (
        "/data/MathVista",
        "mathvista",
        "testmini",
    )
    assert benchmark_config("mathvision", "x.jsonl").source.split == "test"
    with pytest.raises(ConfigError, match="unknown benchmark 'mathvistaa'; choose one of: mathvista, we_math"):
        parse_benchmark_arg("mathvistaa=x")
    with pytest.raises(ConfigError, match="benchmark 'we_math' needs its data: --benchmark we_math=PATH"):
        parse_benchmark_arg("we_math")
