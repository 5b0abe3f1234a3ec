"""The evaluation during training: its metric names, and the same figures as ``megatron-mmupt eval``."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.evaluation.heldout import HeldOutConfig, HeldOutEval
from megatron_mmupt.rollout.engine import SamplingConfig


def test_held_out_metrics_equal_the_eval_commands(demo_dir, tiny_model_dir, eval_config, evaluate, scripted):
    rows = pq.read_table(demo_dir / "test.parquet", columns=["id", "answer"]).slice(0, 6).to_pylist()
    # Right, outvoted, silent, carried by the vote, scattered, unanimous: pass@1 and maj@n part ways.
    plans = [["{a}", "{a}", "x"], ["{a}", "x", "x"], [None], ["{a}", None, None], ["x", "y", "z"], ["{a}"]]
    script = {
        r["id"]: [None if p is None else p.format(a=r["answer"]) for p in plan]
        for r, plan in zip(rows, plans, strict=True)
    }
    config = HeldOutConfig(
        source=DatasetSource.Config(path=str(demo_dir / "test.parquet"), max_rows=6), n=3, batch_size=4
    )
    data = PromptPipeline.Config(processor=str(tiny_model_dir), num_workers=0)
    heldout = HeldOutEval(config, data=data, rollout_sampling=SamplingConfig(max_new_tokens=16))
    try:
        metrics = heldout.run(scripted(script))
    finally:
        heldout.close()
    assert sorted(metrics) == sorted(
        f"eval/{k}"
        for k in ("pass_at_1", "maj_at_3", "answer_rate", "majority_ratio", "distinct_answers", "response_length",
                  "questions")
    )  # fmt: skip
    assert metrics["eval/pass_at_1"] == pytest.approx((2 + 1 + 0 + 1 + 0 + 3) / 18)
    assert metrics["eval/maj_at_3"] == pytest.approx(3 / 6)
    (result,) = evaluate(eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.demo.max_rows=6", "n=3"]),
                         scripted(script))  # fmt: skip
    assert metrics["eval/pass_at_1"] == result.summary.pass_at_1 and metrics["eval/maj_at_3"] == result.summary.maj_at_n
    assert metrics["eval/answer_rate"] == result.summary.answer_rate and metrics["eval/questions"] == 6


def test_unlabeled_held_out_data_is_refused_when_the_run_starts(tmp_path, tiny_model_dir, png):
    import json

    (tmp_path / "a.png").write_bytes(png())
    (tmp_path / "rows.jsonl").write_text(json.dumps({"question": "q?", "images": "a.png"}) + "\n")
    config = HeldOutConfig(source=DatasetSource.Config(path=str(tmp_path / "rows.jsonl")), n=2)
    data = PromptPipeline.Config(processor=str(tiny_model_dir), num_workers=0)
    with pytest.raises(ValueError, match=r"eval.source.path=.*1 of 1 questions have no answer"):
        HeldOutEval(config, data=data, rollout_sampling=SamplingConfig())


def test_greedy_accuracy_is_one_greedy_answer_per_question(demo_dir, tiny_model_dir, scripted):
    rows = pq.read_table(demo_dir / "test.parquet", columns=["id", "answer"]).slice(0, 4).to_pylist()
    # sample 0 (what a scripted engine answers with n=1) is right for the first two questions only
    plans = [["{a}", "x", "x"], ["{a}", "{a}", "y"], ["x", "{a}", "{a}"], [None, "{a}", "{a}"]]
    script = {
        r["id"]: [None if p is None else p.format(a=r["answer"]) for p in plan]
        for r, plan in zip(rows, plans, strict=True)
    }
    engine = scripted(script)
    seen = []
    generate = engine.generate
    engine.generate = lambda batch, sampling: seen.append(sampling) or generate(batch, sampling)
    config = HeldOutConfig(source=DatasetSource.Config(path=str(demo_dir / "test.parquet"), max_rows=4), n=3,
                           greedy=True)  # fmt: skip
    data = PromptPipeline.Config(processor=str(tiny_model_dir), num_workers=0)
    heldout = HeldOutEval(config, data=data, rollout_sampling=SamplingConfig(max_new_tokens=16))
    try:
        metrics = heldout.run(engine)
    finally:
        heldout.close()
    assert metrics["eval/greedy"] == pytest.approx(2 / 4) and metrics["eval/maj_at_3"] == pytest.approx(3 / 4)
    assert [(s.n, s.is_greedy) for s in seen] == [(3, False), (1, True)]
