"""StageTimer: accumulation, nesting, the step clock and its error cases, on a fake clock."""

import pytest

from megatron_mmupt.observability.timer import StageTimer


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_stages_accumulate_and_step_covers_untimed_time():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    with timer.stage("rollout"):
        clock.advance(2.0)
    clock.advance(0.5)  # untimed: logging, bookkeeping
    with timer.stage("train"):
        clock.advance(3.0)
    with timer.stage("rollout"):  # a second rollout call in the same step adds up
        clock.advance(1.0)
    assert timer.pop() == {"time/rollout": 3.0, "time/train": 3.0, "time/other": 0.5, "time/step": 6.5}


def test_nested_stages_report_under_the_outer_key_and_count_once_in_the_step():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    with timer.stage("train"):
        clock.advance(1.0)
        with timer.stage("logprobs"):
            clock.advance(2.0)
        with timer.stage("update"):
            clock.advance(4.0)
    times = timer.pop()
    assert times == {
        "time/train/logprobs": 2.0,
        "time/train/update": 4.0,
        "time/train": 7.0,
        "time/other": 0.0,
        "time/step": 7.0,
    }


def test_pop_starts_the_next_step():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    clock.advance(10.0)  # time before the first pop belongs to step 1
    with timer.stage("rollout"):
        clock.advance(1.0)
    assert timer.pop()["time/step"] == 11.0
    clock.advance(2.0)
    second = timer.pop()
    assert second == {"time/other": 2.0, "time/step": 2.0}  # no stage of step 1 leaks into step 2


def test_a_stage_that_raises_still_records_its_time_and_closes():
    clock = FakeClock()
    timer = StageTimer(clock=clock)
    with pytest.raises(KeyError), timer.stage("reward"):
        clock.advance(1.5)
        raise KeyError("boom")
    with timer.stage("train"):  # top level again: the failed stage is closed
        clock.advance(1.0)
    assert timer.pop() == {"time/reward": 1.5, "time/train": 1.0, "time/other": 0.0, "time/step": 2.5}


def test_sync_runs_at_every_stage_boundary():
    calls = []
    timer = StageTimer(sync=lambda: calls.append("sync"), clock=FakeClock())
    with timer.stage("a"), timer.stage("b"):
        pass
    timer.pop()
    assert len(calls) == 4 + 1  # entry and exit of two stages, and pop (construction does not sync: no CUDA yet)


def test_refused_uses():
    timer = StageTimer(clock=FakeClock())
    for bad in ("", "a/b", "step", "other"):
        with pytest.raises(ValueError), timer.stage(bad):
            pass
    with timer.stage("train"):
        with timer.stage("step"):  # reserved only at the top level
            pass
        with pytest.raises(RuntimeError, match="inside the open stage 'train'"):
            timer.pop()
    assert "time/train/step" in timer.pop()


def test_real_clock_measures_elapsed_time():
    import time

    timer = StageTimer()
    with timer.stage("sleep"):
        time.sleep(0.02)
    times = timer.pop()
    assert 0.015 < times["time/sleep"] <= times["time/step"] < 1.0
