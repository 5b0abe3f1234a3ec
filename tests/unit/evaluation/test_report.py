"""The report: the markdown tables and the per-question records of ``results.json``, from hand-made results."""

from __future__ import annotations

from megatron_mmupt.evaluation.metrics import breakdown, by_field, summarize
from megatron_mmupt.evaluation.report import BenchmarkResult, EvalReport, format_markdown, item_record, report_dict
from megatron_mmupt.evaluation.results import ItemResult

ITEMS = (
    ItemResult("1", "5", ("5", "7", "7"), (0, 1, 1), (True, False, False), (9, 9, 40), (False, False, True),
               {"task": "geometry"}),
    ItemResult("2", "C", ("C", None, "C"), (0, None, 0), (True, False, True), (9, 60, 9), (False, True, False),
               {"task": "algebra"}),
)  # fmt: skip


def report() -> EvalReport:
    result = BenchmarkResult(
        name="mathvista", title="MathVista", source={"path": "/data/testmini.json"}, items=ITEMS,
        summary=summarize(ITEMS), breakdowns={"task": breakdown(ITEMS, by_field("task"))},
        extra={"problems": 2.0, "score_strict": 0.25}, bad_rows={"bad_image": 1}, generated=1, reused=1,
        unused_cache_records=0, seconds=1.0,
    )  # fmt: skip
    sampling = {"n": 3, "temperature": 0.7, "top_p": 1.0, "max_new_tokens": 64, "seed": 1}
    return EvalReport(model={"path": "m"}, sampling=sampling, grader={}, benchmarks=(result,), seconds=2.0)


def test_markdown_has_the_overview_the_breakdowns_and_the_benchmarks_own_metrics():
    text = format_markdown(report())
    assert "3 samples per question at temperature 0.7" in text
    assert "| MathVista | 2 | 50.0 | 50.0 | 83.3 | 0.0 | 33.3 | 23 |" in text
    assert "| algebra | 1 | 66.7 | 100.0 |" in text and "| geometry | 1 | 33.3 | 0.0 |" in text
    assert "| problems | score_strict |" in text and "| 2 | 25.0 |" in text
    assert "Skipped rows: bad_image: 1 (listed in bad_rows/mathvista.jsonl)." in text
    assert "(1 sampled, 1 from the cache)" in text


def test_results_json_records_every_sample_and_the_vote():
    record = item_record(ITEMS[0])
    assert record["majority_answer"] == "7" and record["majority_correct"] is False
    assert (
        record["pass_at_1"] == 1 / 3 and record["class_ids"] == [0, 1, 1] and record["metadata"] == {"task": "geometry"}
    )
    data = report_dict(report())["benchmarks"]["mathvista"]
    assert data["summary"]["maj_at_3"] == 0.5 and data["breakdowns"]["task"]["algebra"]["questions"] == 1
    assert [item["id"] for item in data["items"]] == ["1", "2"]
