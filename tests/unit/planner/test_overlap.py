"""The planner's estimate of the rollout ahead of training, against hand-computed step times."""

import json

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.planner import dry_run_recipe
from megatron_mmupt.planner.overlap import StageTimes, estimate_overlap

TIMES = StageTimes(rollout=2.0, training=3.0, sync=0.5)


def test_a_step_costs_the_longer_side_plus_the_sync():
    # 10 steps, a checkpoint after step 5: steps 1 and 6 overlap nothing (5.5 s), the other 8 cost max(2, 3) + 0.5.
    estimate = estimate_overlap(TIMES, num_steps=10, save_every=5, colocated=False)
    assert estimate.synchronous_s == pytest.approx(5.5)
    assert estimate.barriers == 2 and estimate.ahead_s == pytest.approx((2 * 5.5 + 8 * 3.5) / 10)
    assert estimate.speedup == pytest.approx(5.5 / 3.9)


def test_the_last_steps_checkpoint_is_no_barrier_and_colocated_runs_gain_nothing():
    assert estimate_overlap(TIMES, num_steps=4, save_every=4, colocated=False).barriers == 1
    assert estimate_overlap(TIMES, num_steps=10, save_every=0, colocated=True).speedup == 1.0


def test_stage_times_from_a_finished_run(tmp_path):
    rows = [{"step": 1, "time/step": 99.0, "time/rollout": 9.0, "time/sync": 9.0},  # start-up: left out
            {"step": 2, "time/step": 6.0, "time/rollout": 2.0, "time/sync": 0.5, "time/eval": 0.5},
            {"step": 3, "time/step": 5.0, "time/rollout": 2.0, "time/sync": 0.5}]  # fmt: skip
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert StageTimes.parse(str(path)) == StageTimes(rollout=2.0, training=2.75, sync=0.5)
    assert StageTimes.parse("rollout=2,training=3,sync=0.5") == TIMES


@pytest.mark.parametrize("text", ["rollout=2,training=x,sync=1", "rollout=2,sync=1", "rollout=-1,training=1,sync=1"])
def test_bad_stage_times_name_the_form(text):
    with pytest.raises(ConfigError, match="stage time|rollout=S,training=S,sync=S"):
        StageTimes.parse(text)


def test_the_dry_run_prints_the_estimate_for_a_disaggregated_layout():
    text = dry_run_recipe("qwen2_5_vl_7b_mmr1", ["cluster.colocate=false", "rollout.num_engines=1", "trainer.num_steps=10",
                          "checkpoint.save_every=5"], nodes=1, gpus_per_node=8, stage_times=TIMES)  # fmt: skip
    assert "3.90 s per step against 5.50 s synchronous, 1.41x" in text
    colocated = dry_run_recipe("qwen2_5_vl_7b_mmr1", [], nodes=1, gpus_per_node=8, stage_times=TIMES)
    assert "none in a colocated run" in colocated
