"""The evaluation's flow: resume after an interruption, no reuse across configurations, overrides, refusals."""

from __future__ import annotations

import dataclasses
import fcntl
import os
from pathlib import Path

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.evaluation import runner
from megatron_mmupt.evaluation.cache import ResponseCache
from megatron_mmupt.evaluation.report import RESULTS_JSON, RESULTS_MD
from megatron_mmupt.evaluation.runner import run_eval
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.utils.errors import InputError

BASE_MODEL = Path(__file__).resolve().parents[3] / "examples" / "demo_base_model"


@pytest.fixture(scope="module")
def base_engine():
    """The shipped demo model (it answers about half the demo questions right) on the local engine."""
    return LocalEngine.Config(model_path=str(BASE_MODEL), device="cpu").build()


@pytest.mark.slow  # the shipped model samples 16 answers of up to 40 tokens: ~9 s alone (kernel warm-up included)
def test_interrupted_eval_resumes_and_ends_as_an_uninterrupted_run(
    demo_dir, tmp_path, eval_config, evaluate, recording, base_engine
):
    demo = ("demo", demo_dir / "test.parquet")
    settings = ["benchmarks.demo.max_rows=4", "max_new_tokens=40", "temperature=1.6", "n=2"]

    def config(out, batch_size):
        return eval_config(demo, overrides=settings, model=str(BASE_MODEL), output_dir=str(tmp_path / out),
                           batch_size=batch_size)  # fmt: skip

    dying = recording(base_engine, fail_after=1)
    with pytest.raises(RuntimeError, match="the engine died"):
        evaluate(config("resumed", 2), dying)
    first = dying.generated_ids
    assert len(first) == 2
    again = recording(base_engine)
    (resumed,) = evaluate(config("resumed", 2), again)
    assert (resumed.reused, resumed.generated) == (2, 2)
    assert not set(again.generated_ids) & set(first) and len(again.generated_ids) == 2

    # Uninterrupted, in other batches: sample seeds do not depend on batching, so the samples are the same.
    (whole,) = evaluate(config("whole", 4), recording(base_engine))
    assert resumed.items == whole.items and resumed.summary == whole.summary
    texts = [{r.id: r.texts for r in ResponseCache(tmp_path / out / "cache" / "demo.jsonl").records.values()}
             for out in ("resumed", "whole")]  # fmt: skip
    assert texts[0] == texts[1]
    assert 0 < whole.summary.pass_at_1 < 1 and whole.summary.answer_rate > 0.5  # real answers, not all invalid


def test_another_configuration_never_reuses_the_cache(
    demo_dir, tiny_model_dir, tmp_path, eval_config, evaluate, scripted
):
    demo = ("demo", demo_dir / "test.parquet")
    engine = scripted({})
    (first,) = evaluate(eval_config(demo, overrides=["benchmarks.demo.max_rows=4"]), engine)
    assert (first.generated, first.reused) == (4, 0)
    (same,) = evaluate(eval_config(demo, overrides=["benchmarks.demo.max_rows=4"]), engine)
    assert (same.generated, same.reused, same.unused_cache_records) == (0, 4, 0)
    changes = [
        ["n=2"],  # sampling
        ["temperature=0.5"],
        ["data.prompt.system_prompt=Answer briefly."],  # the prompt
        ["data.images.max_pixels=3136"],  # the image processing
    ]
    for change in changes:
        (other,) = evaluate(eval_config(demo, overrides=["benchmarks.demo.max_rows=4", *change]), engine)
        assert (other.generated, other.reused) == (4, 0), change
    # The same folder with rewritten weights is another model.
    weights = next(tiny_model_dir.glob("*.safetensors"))
    stat = weights.stat()
    try:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        (rewritten,) = evaluate(eval_config(demo, overrides=["benchmarks.demo.max_rows=4"]), engine)
    finally:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (rewritten.generated, rewritten.reused, rewritten.unused_cache_records) == (4, 0, 20)


def test_run_eval_writes_results_and_refuses_a_busy_folder(demo_dir, tmp_path, eval_config, scripted):
    config = eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.demo.max_rows=2"])
    out = Path(config.output_dir)
    out.mkdir(parents=True)
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="is in use by another evaluation"):
            run_eval(config, engine=scripted({}), log=lambda _: None)
    report = run_eval(config, engine=scripted({}), log=lambda _: None)
    assert report.benchmarks[0].summary.answer_rate == 0.0  # the script has no answer for these ids
    for name in (RESULTS_JSON, RESULTS_MD, "results.png", "config.json", "cache/demo.jsonl"):
        assert (out / name).is_file(), name


def test_a_fully_cached_rerun_opens_no_engine(demo_dir, eval_config, scripted, monkeypatch):
    config = eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.demo.max_rows=2"])
    first = run_eval(config, engine=scripted({}), log=lambda _: None)

    def no_engine(*args, **kwargs):
        raise AssertionError("the engine was opened although every question was cached")

    monkeypatch.setattr(runner, "open_engine", no_engine)
    again = run_eval(config, log=lambda _: None)
    assert again.benchmarks[0].reused == 2 and again.benchmarks[0].items == first.benchmarks[0].items
    with pytest.raises(AssertionError, match="the engine was opened"):
        run_eval(dataclasses.replace(config, n=3), log=lambda _: None)


def test_benchmark_overrides_and_their_errors(demo_dir, eval_config):
    config = eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.demo.max_rows=5", "n=2"])
    assert (config.benchmarks[0].source.max_rows, config.n) == (5, 2)
    with pytest.raises(ConfigError, match=r"benchmarks.mathvista.max_rows: .*\(given: demo\)"):
        eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.mathvista.max_rows=5"])
    with pytest.raises(ConfigError, match=r"benchmarks.demo: unknown config key 'max_row'; did you mean: max_rows"):
        eval_config(("demo", demo_dir / "test.parquet"), overrides=["benchmarks.demo.max_row=5"])
    with pytest.raises(ConfigError, match=r"n=0 must be > 0"):
        eval_config(("demo", demo_dir / "test.parquet"), overrides=["n=0"])
    with pytest.raises(ConfigError, match="benchmark demo is given twice"):
        dataclasses.replace(config, benchmarks=config.benchmarks * 2)


def test_unlabeled_and_duplicate_questions_are_refused_before_sampling(
    tmp_path, write_png, eval_config, evaluate, scripted
):
    write_png("data/a.png")
    path = tmp_path / "data" / "rows.jsonl"
    engine = scripted({})
    path.write_text('{"id": "a", "question": "q?", "image": "a.png", "answer": "1"}\n'
                    '{"id": "b", "question": "q?", "image": "a.png"}\n')  # fmt: skip
    with pytest.raises(InputError, match="question 'b' has no answer; evaluation needs labels"):
        evaluate(eval_config(("generic", path)), engine)
    path.write_text('{"id": "a", "question": "q?", "image": "a.png", "answer": "1"}\n' * 2)
    with pytest.raises(InputError, match="question id 'a' appears twice"):
        evaluate(eval_config(("generic", path)), engine)
    assert engine.calls == []
