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


def test_main_job_writes_the_before_after_summary(demo_dir, tiny_model_dir, tmp_path):
    out = tmp_path / "demo"
    summary = run_main_job(out, seeds=[3], overrides=tiny_overrides(demo_dir, tiny_model_dir))
    written = json.loads((out / "summary.json").read_text())
    assert written == summary
    assert set(written["before"]) == {"pass_at_1", "maj_at_2"} and written["questions"] == 6
    assert [(r["mode"], r["seed"]) for r in written["runs"]] == [("label-free", 3), ("supervised", 3)]
    assert [r["reward"] for r in written["runs"]] == ["majority", "supervised"]
    for run in written["runs"]:
        assert set(run["after"]) == {"pass_at_1", "maj_at_2", "questions"}
        assert run["time"]["rollout"] > 0 and run["time"]["update"] >= 0
        assert (out / f"{run['mode']}-seed3" / "metrics.jsonl").is_file()
    assert set(written["mean_after"]["label-free"]) >= {"pass_at_1", "gain_pass_at_1", "gain_maj_at_2"}
    noise = written["eval_noise"]  # the base model under the recipe's sample seed and 3 more
    assert noise["eval_seeds"] == [1234, 1, 2, 3] and len(noise["each"]) == 4 and noise["each"][0] == summary["before"]
    assert set(noise["std"]) == {"pass_at_1", "maj_at_2"} and all(v >= 0 for v in noise["std"].values())
    table = (out / "summary.md").read_text()
    assert "One evaluation's own spread (the base model under 4 sample seeds, std)" in table
    assert "| base model |" in table and "| label-free | 3 |" in table and "| supervised | 3 |" in table
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_foreign_output_folder_is_refused(demo_dir, tiny_model_dir, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not a previous demo's output"):
        run_main_job(tmp_path, seeds=[1], overrides=tiny_overrides(demo_dir, tiny_model_dir))
    assert (tmp_path / "mine.txt").read_text() == "keep me"
