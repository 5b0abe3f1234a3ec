"""``megatron-mmupt demo --synthesis`` on a short schedule: synthesis with the shipped model, runs on the
original and on both synthesized sets, the summary files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from megatron_mmupt.demo.synthesis_job import run_synthesis_job

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "demo_base_model"


def test_synthesis_job_trains_on_original_and_self_written_questions(shipped_demo_dir, tmp_path):
    d = shipped_demo_dir
    overrides = [
        f"actor.model={SHIPPED}", f"data.processor={d / 'processor'}", f"data.source.path={d / 'train.parquet'}",
        f"eval.source.path={d / 'test.parquet'}", "eval.source.max_rows=4", "eval.n=2", "eval.max_new_tokens=4",
        "data.sampler.batch_size=2", "rollout.sampling.n=2", "trainer.updates_per_step=1", "trainer.num_steps=1",
        "cluster.cpus_per_worker=1", "rollout.cpus_per_engine=1", "logging.console=false",
    ]  # fmt: skip
    out = tmp_path / "demo-synthesis"
    summary = run_synthesis_job(out, seeds=[1], overrides=overrides, images=6)

    assert json.loads((out / "summary.json").read_text()) == summary
    assert [r["mode"] for r in summary["runs"]] == ["original", "in-context", "direct"]
    assert all(r["reward"] == "majority" for r in summary["runs"])
    for method in ("in-context", "direct"):
        kept = summary["synthesis"][method]["kept"]
        assert summary["synthesis"][method]["written"] == 12 and kept > 0
        config = json.loads((out / f"{method}-seed1" / "config.json").read_text())
        assert config["data"]["source"]["path"] == f"{out / f'questions-{method}'}/train.parquet"
    table = (out / "summary.md").read_text()
    assert "| original | 1 |" in table and "| in-context | 1 |" in table and "Synthesized questions" in table
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
