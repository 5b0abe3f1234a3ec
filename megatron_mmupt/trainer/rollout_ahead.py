"""Rollout ahead of training (``trainer.max_staleness = k >= 1``): the engines generate later steps' groups while
the actor trains, on weights at most ``k`` versions old.

    ahead = RolloutAhead(prompts, rollout, sampling, max_staleness=1, start=0, barriers=checkpoint_steps)
    ahead.release(0)                      # the engines hold version 0: generation may start
    for step in ...:
        item = ahead.get(step)            # this step's prompts and groups (generated at item.version)
        ... reward, log-probs, update, checkpoint ...
        ahead.before_sync(step)           # every generation on older weights is done
        gpus.sync(version=step); eval
        ahead.release(step)               # generation on the new weights may start

The schedule is fixed, not raced: step ``s`` is generated on version ``max(b, s - 1 - k)``, ``b`` the last barrier
before ``s`` (the first step's version, and every checkpoint step). The generating thread waits for that version,
and a sync waits until no generation runs on older weights, so

* a weight push never lands in the middle of a generation (local engines and SGLang alike need no pause) and holds
  generation up only while it runs;
* every group's staleness is known in advance and at most ``k``: none is dropped or regenerated in a healthy run,
  so staleness cannot bias the data toward prompts that are quick to answer. A group older than ``k`` (an engine
  that lost its version) is regenerated whole on the current weights and counted;
* the run is deterministic: which weights generate which step never depends on timing;
* a checkpoint is a barrier: the steps after it are generated on its weights, and the prompt sampler has drawn
  exactly the checkpointed steps' prompts, so a resumed run continues as the uninterrupted one.

The cost of a barrier is one step without overlap. Colocated runs keep the synchronous loop (the engines and the
actor take turns on the same GPUs).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from megatron_mmupt.data.pipeline import PromptPipeline
    from megatron_mmupt.data.prompt_batch import PromptBatch
    from megatron_mmupt.rollout.engine import RolloutEngine, SamplingConfig
    from megatron_mmupt.rollout.types import RolloutGroup


@dataclasses.dataclass(frozen=True, slots=True)
class StepRollout:
    """One step's prompts and groups, and the weight version they were generated on."""

    step: int
    batch: PromptBatch
    groups: list[RolloutGroup]
    version: int


def scheduled_version(step: int, *, max_staleness: int, last_barrier: int) -> int:
    """The weight version that generates ``step``: ``max_staleness`` behind the actor, never before the barrier."""
    return max(last_barrier, step - 1 - max_staleness)


class RolloutAhead:
    def __init__(
        self,
        prompts: PromptPipeline,
        rollout: RolloutEngine,
        sampling: SamplingConfig,
        *,
        max_staleness: int,
        start: int,
        barriers: Callable[[int], bool],
    ) -> None:
        if max_staleness < 1:
            raise ValueError(
                f"max_staleness={max_staleness}: rollout ahead needs at least 1 (0 is the synchronous loop)"
            )
        self.prompts, self.rollout, self.sampling = prompts, rollout, sampling
        self.max_staleness, self.barriers = max_staleness, barriers
        self._cond = threading.Condition()
        self._released = -1  # the engines' version that generation may use
        self._next = start + 1  # the next step to generate
        self._last_barrier = start
        self._ready: dict[int, StepRollout | None] = {}  # None: the data ran out at that step
        self._done = False  # no step will be generated any more (data exhausted, error, or closed)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rollout-ahead", daemon=True)
        self._thread.start()

    # --- the training loop's side ---------------------------------------------------------------------------

    def get(self, step: int) -> StepRollout | None:
        """``step``'s rollout once generated; ``None`` when the data ran out before it."""
        with self._cond:
            self._cond.wait_for(lambda: step in self._ready or self._done)
            self._raise_error()
            return self._ready.pop(step, None)

    def before_sync(self, version: int) -> None:
        """Block until no generation can still run on weights older than ``version`` (call before syncing it)."""
        with self._cond:
            self._cond.wait_for(lambda: self._done or self._version_of(self._next) >= version)
            self._raise_error()

    def release(self, version: int) -> None:
        """The engines now hold ``version``: steps scheduled on it may be generated."""
        with self._cond:
            self._released = version
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._thread.join()

    def __enter__(self) -> RolloutAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the generating thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._generate_next():
                pass
        except BaseException as e:  # handed to the loop by get() / before_sync()
            with self._cond:
                self._error = e
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def _generate_next(self) -> bool:
        with self._cond:
            step = self._next
            version = self._version_of(step)
            self._cond.wait_for(lambda: self._done or self._released >= version)
            if self._done:
                return False
        batch = self.prompts.next_batch()  # drawn only now: a checkpoint never sees prompts of later steps
        item = None if batch is None else StepRollout(step, batch, self.rollout.generate(batch, self.sampling), version)
        with self._cond:
            self._ready[step] = item
            if self.barriers(step):
                self._last_barrier = step
            self._next = step + 1
            self._cond.notify_all()
        return item is not None

    def _version_of(self, step: int) -> int:
        return scheduled_version(step, max_staleness=self.max_staleness, last_barrier=self._last_barrier)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"rollout ahead of training failed: {self._error}") from self._error


def refresh_stale_groups(
    item: StepRollout, rollout: RolloutEngine, sampling: SamplingConfig, *, actor_version: int, max_staleness: int
) -> tuple[list[RolloutGroup], dict[str, float]]:
    """The step's groups with any group older than ``max_staleness`` versions regenerated whole on the current
    weights (a pseudo-label belongs to a whole group), and the staleness metrics."""
    groups = list(item.groups)
    lags = [actor_version - _group_version(g, item.version) for g in groups]
    stale = [i for i, lag in enumerate(lags) if lag > max_staleness]
    if stale:
        prompts = {p.id: p for p in item.batch}
        subset = dataclasses.replace(item.batch, prompts=tuple(prompts[groups[i].prompt_id] for i in stale))
        for i, group in zip(stale, rollout.generate(subset, sampling), strict=True):
            groups[i] = group
            lags[i] = actor_version - _group_version(group, actor_version)
    metrics = {
        "staleness/mean_lag": sum(lags) / len(lags) if lags else 0.0,
        "staleness/max_lag": float(max(lags, default=0)),
        "staleness/regenerated_groups": float(len(stale)),
    }
    return groups, metrics


def version_lags(groups: list[RolloutGroup], *, actor_version: int, fallback: int) -> list[int]:
    """Each sample's lag behind ``actor_version`` (samples in group order, as ``collect_experience`` lays them)."""
    return [
        actor_version - (fallback if r.weight_version is None else r.weight_version) for g in groups for r in g.rollouts
    ]


def _group_version(group: RolloutGroup, fallback: int) -> int:
    return fallback if group.weight_version is None else group.weight_version
