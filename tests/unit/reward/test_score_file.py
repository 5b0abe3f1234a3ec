import json

import pytest

from megatron_mmupt.reward.score_file import group_rows, read_rows, score_file
from megatron_mmupt.utils.errors import InputError


def write_lines(path, *lines):
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt_id": 1', "responses.jsonl:2: not valid JSON"),
        ("[1, 2]", ":2: expected a JSON object, got list"),
        ('{"prompt_id": 1}', ":2: missing required field 'response'"),
        ('{"response": "x"}', ":2: missing required field 'prompt_id'"),
        ('{"prompt_id": true, "response": "x"}', ":2: prompt_id must be a string or an integer"),
        ('{"prompt_id": 1, "response": 5}', ":2: response must be a string"),
        ('{"prompt_id": 1, "response": "x", "answer": [1]}', ":2: answer must be a string or a number"),
        ('{"prompt_id": 1, "response": "x", "choices": "AB"}', ":2: choices must be a list"),
        ('{"prompt_id": 1, "response": "x", "choices": ' + json.dumps(list(range(11))) + "}", ":2: 11 choices"),
    ],
)
def test_malformed_lines_name_the_line(tmp_path, line, message):
    path = write_lines(tmp_path / "responses.jsonl", '{"prompt_id": 0, "response": "ok"}', line)
    with pytest.raises(InputError, match=message):
        read_rows(path)


def test_inconsistent_labels_within_a_prompt(tmp_path):
    path = write_lines(
        tmp_path / "r.jsonl",
        '{"prompt_id": "a", "response": "x", "answer": "1"}',
        "",
        '{"prompt_id": "a", "response": "y", "answer": "2"}',
    )
    with pytest.raises(InputError, match=r"r.jsonl:3: prompt_id 'a' has a different answer .* line 1"):
        group_rows(path, read_rows(path))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="has no responses"):
        read_rows(write_lines(tmp_path / "empty.jsonl", "", "  "))


def test_groups_keep_file_order_and_ids_are_strings(tmp_path):
    path = write_lines(
        tmp_path / "r.jsonl",
        '{"prompt_id": 2, "response": "a"}',
        '{"prompt_id": "x", "response": "b", "choices": [10, "12"]}',
        '{"prompt_id": 2, "response": "c"}',
    )
    groups = group_rows(path, read_rows(path))
    assert [g.prompt_id for g in groups] == ["2", "x"]
    assert groups[0].responses == ["a", "c"] and groups[1].choices == ("10", "12")


def test_scores_are_written_in_input_order_with_extra_fields_kept(tmp_path, stage):
    path = write_lines(
        tmp_path / "r.jsonl",
        '{"prompt_id": "a", "response": "\\\\boxed{1}", "answer": 1, "meta": {"k": 1}}',
        '{"prompt_id": "b", "response": "none"}',
        '{"prompt_id": "a", "response": "\\\\boxed{2}", "answer": 1, "meta": null}',
    )
    out = tmp_path / "out" / "scored.jsonl"
    score_file(stage, path, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt_id"] for r in rows] == ["a", "b", "a"]
    assert rows[0]["meta"] == {"k": 1} and rows[0]["extracted"] == "1" and rows[0]["correct"] is True
    assert rows[1]["extracted"] is None and rows[1]["reward"] == 0.0 and "correct" not in rows[1]
    assert {k for k in rows[2]} >= {"extracted", "pseudo_label", "reward", "vote_share", "correct"}


def test_a_failed_run_keeps_the_previous_output(tmp_path, stage):
    out = tmp_path / "scored.jsonl"
    out.write_text("previous results\n")
    bad = write_lines(tmp_path / "bad.jsonl", '{"prompt_id": "a", "response": "x"}', "{not json")
    with pytest.raises(InputError):
        score_file(stage, bad, out)
    assert out.read_text() == "previous results\n"
    with pytest.raises(InputError, match="is the input file"):
        score_file(stage, bad, bad)
