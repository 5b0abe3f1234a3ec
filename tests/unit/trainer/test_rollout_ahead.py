"""The rollout ahead of training: its fixed schedule, its barriers, and what the training loop may rely on."""

import dataclasses
import threading
import time

import pytest

from megatron_mmupt.rollout.types import Rollout, RolloutGroup
from megatron_mmupt.trainer.rollout_ahead import (
    RolloutAhead,
    StepRollout,
    refresh_stale_groups,
    scheduled_version,
    version_lags,
)


class Batch:
    """A stand-in PromptBatch: the step it was drawn for."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.prompts = (Prompt(f"p{index}"),)

    def __iter__(self):
        return iter(self.prompts)


class Prompt:
    def __init__(self, id: str) -> None:
        self.id = id


class Prompts:
    def __init__(self, steps: int) -> None:
        self.drawn, self.steps = 0, steps

    def next_batch(self):
        if self.drawn == self.steps:
            return None
        self.drawn += 1
        return Batch(self.drawn)


class Engine:
    """Generates at its current version; records each generation and fails the test if a sync overlaps one."""

    def __init__(self) -> None:
        self.version, self.busy, self.log = 0, threading.Lock(), []

    def generate(self, batch, sampling):
        with self.busy:
            time.sleep(0.002)
            self.log.append((batch.index, self.version))
            return [RolloutGroup(p.id, (Rollout("1", weight_version=self.version),) * 2, None) for p in batch]

    def sync(self, version: int) -> None:
        assert self.busy.acquire(blocking=False), "a weight push landed during a generation"
        self.version = version
        self.busy.release()


def run_loop(steps: int, staleness: int, *, start: int = 0, barriers=(), on_checkpoint=None):
    """The training loop's calls, as ``train.py`` makes them; returns the engine's generation log."""
    prompts, engine = Prompts(steps), Engine()
    engine.version = start
    prompts.drawn = start
    with RolloutAhead(prompts, engine, None, max_staleness=staleness, start=start,
                      barriers=lambda s: s in barriers) as ahead:  # fmt: skip
        ahead.release(start)
        for step in range(start + 1, steps + 1):
            item = ahead.get(step)
            assert item.step == step and item.batch.index == step
            time.sleep(0.003)  # training
            if step in barriers and on_checkpoint:
                on_checkpoint(step, prompts.drawn)
            ahead.before_sync(step)
            engine.sync(step)
            ahead.release(step)
        assert ahead.get(steps + 1) is None  # the data ran out
    return engine.log


@pytest.mark.parametrize("staleness", [1, 2, 3])
def test_every_step_is_generated_on_its_scheduled_version(staleness):
    log = run_loop(12, staleness)
    assert log == [(s, scheduled_version(s, max_staleness=staleness, last_barrier=0)) for s in range(1, 13)]
    assert all(s - 1 - v <= staleness for s, v in log)  # the actor trains step s on version s - 1
    assert [s - 1 - v for s, v in log][staleness + 1 :] == [staleness] * (11 - staleness)  # the bound is used


def test_a_checkpoint_is_a_barrier_and_has_drawn_exactly_its_steps():
    drawn_at = {}
    log = run_loop(9, 2, barriers={4, 9}, on_checkpoint=lambda step, drawn: drawn_at.update({step: drawn}))
    assert drawn_at == {4: 4, 9: 9}  # the sampler state a checkpoint saves is that of its own step
    assert [v for s, v in log if s in (5, 6, 7)] == [4, 4, 4]  # after the barrier: its weights, lag 0, 1, 2
    assert dict(log)[8] == 5


def test_a_resumed_schedule_equals_the_uninterrupted_one():
    whole = run_loop(9, 2, barriers={4})
    resumed = run_loop(9, 2, start=4, barriers={4})
    assert resumed == [(s, v) for s, v in whole if s > 4]


def test_a_failing_generation_reaches_the_loop():
    class Broken(Engine):
        def generate(self, batch, sampling):
            raise OSError("engine gone")

    with RolloutAhead(Prompts(3), Broken(), None, max_staleness=1, start=0, barriers=lambda s: False) as ahead:
        ahead.release(0)
        with pytest.raises(RuntimeError, match="rollout ahead of training failed: engine gone"):
            ahead.get(1)


def test_staleness_zero_is_the_synchronous_loop():
    with pytest.raises(ValueError, match="0 is the synchronous loop"):
        RolloutAhead(Prompts(1), Engine(), None, max_staleness=0, start=0, barriers=lambda s: False)


@dataclasses.dataclass(frozen=True)
class FrozenBatch:
    """A stand-in PromptBatch that ``dataclasses.replace`` can cut to a subset of its prompts."""

    prompts: tuple
    index: int = 1

    def __iter__(self):
        return iter(self.prompts)


def test_groups_older_than_the_bound_are_regenerated_whole():
    engine = Engine()
    engine.version = 7
    old = RolloutGroup("a", (Rollout("1", weight_version=3), Rollout("2", weight_version=6)), None)
    fresh = RolloutGroup("b", (Rollout("1", weight_version=6),) * 2, None)
    item = StepRollout(8, FrozenBatch((Prompt("a"), Prompt("b"))), [old, fresh], 6)
    groups, metrics = refresh_stale_groups(item, engine, None, actor_version=7, max_staleness=1)
    assert groups[1] is fresh and groups[0].prompt_id == "a"
    assert engine.log == [(1, 7)]  # one generation, of the stale group's prompt only
    assert {r.weight_version for r in groups[0].rollouts} == {7}  # both samples anew: the vote is the group's
    assert metrics == {"staleness/mean_lag": 0.5, "staleness/max_lag": 1.0, "staleness/regenerated_groups": 1.0}
    assert version_lags(groups, actor_version=7, fallback=6) == [0, 0, 1, 1]


def test_a_groups_version_is_its_oldest_samples():
    group = RolloutGroup("a", (Rollout("1", weight_version=5), Rollout("2", weight_version=3), Rollout("3")), None)
    assert group.weight_version == 3
    assert RolloutGroup("b", (Rollout("1"),), None).weight_version is None


def test_a_colocated_run_stays_synchronous_and_says_so():
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.config.run_config import RunConfig
    from megatron_mmupt.train import _rollout_ahead

    config = apply_overrides(RunConfig(), ["trainer.max_staleness=1"])
    with pytest.warns(UserWarning, match="colocated run .* stays synchronous"):
        assert _rollout_ahead(config, Prompts(1), Engine(), start=0, colocated=True) is None
    assert _rollout_ahead(RunConfig(), Prompts(1), Engine(), start=0, colocated=False) is None  # k = 0
