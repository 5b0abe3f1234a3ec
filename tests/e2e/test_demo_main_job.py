"""The README's main job on a short schedule: base evaluation, label-free and supervised runs, the summary files."""

from __future__ import annotations

import json

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.demo.main_job import run_main_job

pytestmark = pytest.mark.slow


def tiny_overrides(demo_dir, model_dir) -> list[str]:
    return [
        f"actor.model={model_dir}", f"data.processor={demo_dir / 'processor'}",
        f"data.source.path={demo_dir / 'train.parquet'}", f"eval.source.path={demo_dir / 'test.parquet'}",
        "eval.source.max_rows=6", "eval.n=2", "data.sampler.batch_size=2", "rollout.sampling.n=2",
        "rollout.sampling.max_new_tokens=4", "eval.max_new_tokens=4", "trainer.updates_per_step=1",
        "trainer.num_steps=1", "cluster.cpus_per_worker=1", "rollout.cpus_per_engine=1", "logging.console=false",
    ]  # fmt: skip


def test_main_job_writes_the_curves_of_three_arms(demo_dir, tiny_model_dir, tmp_path, capsys):
    out, overrides = tmp_path / "demo", tiny_overrides(demo_dir, tiny_model_dir)
    summary = run_main_job(out, seeds=[3], overrides=overrides)
    written = json.loads((out / "summary.json").read_text())
    assert written == summary
    figures = {"greedy", "pass_at_1", "maj_at_2", "majority_ratio"}
    assert set(written["before"]) == figures and written["questions"] == 6
    assert [(r["mode"], r["seed"]) for r in written["runs"]] == [("random", 3), ("label-free", 3), ("supervised", 3)]
    assert [r["reward"] for r in written["runs"]] == ["random", "majority", "supervised"]
    for run in written["runs"]:
        assert set(run["after"]) == figures | {"questions"} and [p["step"] for p in run["curve"]] == [1]
        assert run["time"]["rollout"] > 0 and run["time"]["update"] >= 0 and "first_alarm" in run
        assert (out / f"{run['mode']}-seed3" / "result.json").is_file()
    assert written["curves"]["label-free"]["steps"] == [0, 1]
    assert set(written["comparisons"]) == {"vote_vs_random", "drop_from_peak", "maj_vs_supervised"}
    noise = written["eval_noise"]  # the base model under the recipe's sample seed and 2 more
    assert noise["eval_seeds"] == [1234, 1, 2] and len(noise["each"]) == 3
    assert {k: v for k, v in noise["each"][0].items() if k != "questions"} == summary["before"]
    assert set(noise["std"]) == figures and noise["std"]["greedy"] == 0.0
    table = (out / "summary.md").read_text()
    assert "| random | 1 |" in table and "| label-free | 1 |" in table and "| supervised | 1 |" in table
    assert "greedy by step:" in table and "label-free − random, pass@1" in table
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # run again over its own folder: every finished run and evaluation is reused, nothing trains
    capsys.readouterr()
    assert run_main_job(out, seeds=[3], overrides=overrides) == summary
    printed = capsys.readouterr().out
    assert printed.count("reusing the finished run") == 3 and "training:" not in printed and "evaluating" not in printed


def test_a_foreign_output_folder_is_refused(demo_dir, tiny_model_dir, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not a previous demo's output"):
        run_main_job(tmp_path, seeds=[1], overrides=tiny_overrides(demo_dir, tiny_model_dir))
    assert (tmp_path / "mine.txt").read_text() == "keep me"
