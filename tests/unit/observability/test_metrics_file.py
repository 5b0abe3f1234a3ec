"""metrics.jsonl: one flushed JSON line per log call, NaN as null, and exact truncation on resume."""

import json
import math

import pytest

from megatron_mmupt.observability.metrics_file import MetricsFile, merge_steps, read_metrics


def write_steps(path, steps, resume_step=0):
    f = MetricsFile(path, resume_step=resume_step)
    for step in steps:
        f.append(step, {"reward/mean": step / 10, "time/step": 1.0}, wall_time=1000.0 + step)
    f.close()


def test_lines_are_json_records_flushed_per_append(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    f = MetricsFile(path)
    f.append(1, {"reward/mean": 0.25, "vote/groups": 8.0, "label/pass_at_1": float("nan")}, wall_time=12.5)
    # flushed before close: another process (a plotter, tail -f) sees the line now
    assert json.loads(path.read_text()) == {
        "step": 1,
        "wall_time": 12.5,
        "reward/mean": 0.25,
        "vote/groups": 8.0,
        "label/pass_at_1": None,  # strict JSON: NaN is written as null
    }
    f.append(1, {"eval/pass_at_1": 0.6})  # a second call for the same step (evaluation)
    f.append(2, {"reward/mean": 0.5})
    f.close()

    records = read_metrics(path)
    assert [r["step"] for r in records] == [1, 1, 2]
    assert math.isnan(records[0]["label/pass_at_1"])
    assert records[1]["wall_time"] > 1e9  # default: the current Unix time
    merged = merge_steps(records)
    assert [r["step"] for r in merged] == [1, 2]
    assert merged[0]["eval/pass_at_1"] == 0.6 and merged[0]["reward/mean"] == 0.25


def test_steps_must_not_go_back_and_record_keys_are_reserved(tmp_path):
    f = MetricsFile(tmp_path / "metrics.jsonl")
    f.append(3, {"a": 1.0})
    with pytest.raises(ValueError, match="before the last logged step 3"):
        f.append(2, {"a": 1.0})
    with pytest.raises(ValueError, match="reserved"):
        f.append(4, {"step": 1.0})
    f.close()
    with pytest.raises(RuntimeError, match="closed"):
        f.append(5, {"a": 1.0})


def test_resume_truncates_the_steps_the_resumed_run_redoes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, range(1, 8))  # the first run got to step 7, its last checkpoint was step 4
    write_steps(path, range(5, 7), resume_step=4)  # the resumed run redoes steps 5 and 6
    records = read_metrics(path)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["wall_time"] for r in records] == [1001.0, 1002.0, 1003.0, 1004.0, 1005.0, 1006.0]


def test_resume_sets_the_last_step_and_a_fresh_run_starts_empty(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, [0, 1, 2, 3])
    f = MetricsFile(path, resume_step=2)
    assert f.last_step == 2
    with pytest.raises(ValueError):
        f.append(1, {"a": 1.0})
    f.close()
    fresh = MetricsFile(path)
    assert fresh.last_step is None
    fresh.close()
    assert path.read_text() == ""


def test_a_torn_last_line_is_dropped_and_a_corrupt_middle_line_refused(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_steps(path, [1, 2])
    with path.open("a") as f:
        f.write('{"step": 3, "reward/me')  # the process died mid-write
    with pytest.warns(UserWarning, match="torn last line"):
        assert [r["step"] for r in read_metrics(path)] == [1, 2]
    with pytest.warns(UserWarning):
        MetricsFile(path, resume_step=5).close()
    assert [r["step"] for r in read_metrics(path)] == [1, 2]
    assert path.read_text().endswith("}\n")  # the torn bytes are gone, the next append starts a clean line

    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        read_metrics(path)
