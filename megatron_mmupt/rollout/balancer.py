"""Several rollout engines behind one ``RolloutEngine``: prompts routed by load, dead engines restarted.

Routing. Whole prompts (all n samples, so a prompt's prefill is shared on its engine) go to the engine with
the fewest samples in flight, counting samples of other calls still running. Seeds belong to samples
(``engine.sample_seed``), so the split does not change what is drawn.

Faults. An engine that raises ``EngineUnavailable`` is marked dead and its prompts go to the others in the
next attempt; with a ``restart`` callback it is restarted at once. A restarted engine serves its
checkpoint's weights, so it rejoins only when its weight version equals the balancer's, i.e. after the
next ``update_weights`` (which every engine receives). Other errors (bad input) are raised, not retried.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import Configurable, check_range
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.engine import (
    EngineError,
    EngineHealth,
    EngineUnavailable,
    MemoryTag,
    RolloutEngine,
    SamplingConfig,
    WeightBucket,
    check_batch,
)
from megatron_mmupt.rollout.types import RolloutGroup

logger = logging.getLogger(__name__)


class EngineBalancer(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        max_attempts: int = 3
        """Rounds of ``generate``: prompts of an engine that died are retried on the others this many times."""

        def __post_init__(self) -> None:
            check_range("max_attempts", self.max_attempts, 1, 100)

    def __init__(
        self,
        config: Config,
        *,
        engines: Sequence[RolloutEngine],
        restart: Callable[[int], RolloutEngine] | None = None,
    ) -> None:
        if not engines:
            raise ValueError("EngineBalancer needs at least one engine")
        self.config = config
        self.engines = list(engines)
        self.restart_engine = restart
        self._in_flight = [0] * len(engines)
        self._dead: set[int] = set()
        self._stale: set[int] = set()  # restarted, weights behind the balancer's version
        self._version = 0  # engines start from the checkpoint; update_weights moves every engine on
        self._lock = threading.Lock()

    # --- generation ---------------------------------------------------------------------------------

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        check_batch(batch)
        done: dict[int, RolloutGroup] = {}
        pending = list(range(len(batch)))
        failures: list[str] = []
        for _ in range(self.config.max_attempts):
            ready = self._ready()
            if not ready:
                break
            assignment = self._assign(pending, ready, sampling.n)
            for engine_index, result in self._run(batch, sampling, assignment).items():
                if isinstance(result, EngineUnavailable):
                    failures.append(f"engine {engine_index}: {result}")
                    self._mark_dead(engine_index)
                    continue
                for prompt_index, group in zip(assignment[engine_index], result, strict=True):
                    done[prompt_index] = group
            pending = [i for i in pending if i not in done]
            if not pending:
                return [done[i] for i in range(len(batch))]
        raise EngineUnavailable(
            f"{len(pending)} of {len(batch)} prompts not generated after {self.config.max_attempts} attempts; "
            f"ready engines: {self._ready()}; failures: {'; '.join(failures) or 'no engine ready'}"
        )

    def _ready(self) -> list[int]:
        return [i for i in range(len(self.engines)) if i not in self._dead and i not in self._stale]

    def _assign(self, prompts: list[int], engines: list[int], n: int) -> dict[int, list[int]]:
        """Prompt indices per engine, each prompt to the engine with the fewest samples in flight."""
        with self._lock:
            load = {e: self._in_flight[e] for e in engines}
            assignment: dict[int, list[int]] = {e: [] for e in engines}
            for prompt in prompts:
                engine = min(engines, key=lambda e: (load[e], e))
                assignment[engine].append(prompt)
                load[engine] += n
            for engine, assigned in assignment.items():
                self._in_flight[engine] += len(assigned) * n
        return {e: a for e, a in assignment.items() if a}

    def _run(self, batch: PromptBatch, sampling: SamplingConfig, assignment: dict[int, list[int]]) -> dict:
        """Each engine's share in its own thread; an engine's ``EngineUnavailable`` is returned, not raised."""

        def one(engine_index: int, prompts: list[int]) -> list[RolloutGroup] | EngineUnavailable:
            sub = PromptBatch(tuple(batch.prompts[i] for i in prompts), batch.epoch, batch.step_index)
            try:
                return self.engines[engine_index].generate(sub, sampling)
            except EngineUnavailable as e:
                return e
            finally:
                with self._lock:
                    self._in_flight[engine_index] -= len(prompts) * sampling.n

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(assignment)) as pool:
            futures = {e: pool.submit(one, e, prompts) for e, prompts in assignment.items()}
            return {e: f.result() for e, f in futures.items()}

    def _mark_dead(self, index: int) -> None:
        logger.warning("rollout engine %d is unavailable", index)
        self._dead.add(index)
        if self.restart_engine is None:
            return
        try:
            self.engines[index] = self.restart_engine(index)
        except Exception:  # stays dead; the next heal() tries again
            logger.exception("restart of rollout engine %d failed", index)
            return
        self._dead.discard(index)
        if self.engines[index].weight_version != self._version:
            self._stale.add(index)

    def heal(self) -> list[int]:
        """Health-check every engine; restart the unhealthy and dead ones. Returns the ready engines."""
        for index, engine in enumerate(self.engines):
            if index in self._dead or not engine.health().healthy:
                self._mark_dead(index)
        return self._ready()

    # --- fan-out ------------------------------------------------------------------------------------

    def _each(self, call: Callable[[RolloutEngine], None]) -> None:
        """``call`` on every live engine; one that is unavailable is marked dead (and restarted)."""
        succeeded = 0
        for index in [i for i in range(len(self.engines)) if i not in self._dead]:
            try:
                call(self.engines[index])
                succeeded += 1
            except EngineUnavailable:
                self._mark_dead(index)
        if not succeeded:
            raise EngineUnavailable(f"no rollout engine is alive ({self.health().detail})")

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        """Every live engine gets the update, restarted ones included, which then rejoin."""
        materialized = list(buckets)  # one iterable, several engines
        self._version = int(version)
        self._each(lambda e: e.update_weights(materialized, version=version))
        self._catch_up(lambda e: e.update_weights(materialized, version=version))

    def weight_targets(self) -> list[tuple[int, Any]]:
        """``(index, engine.weight_target())`` of every live engine, restarted ones included: the receivers of a
        weight sync sent by the actor's ranks (``bridge/sync.py``); follow it with ``weights_synced``."""
        return [(i, self.engines[i].weight_target()) for i in range(len(self.engines)) if i not in self._dead]

    def weights_synced(self, indices: Iterable[int], *, version: int) -> None:
        """Engines ``indices`` now serve ``version``: the balancer's version moves on, restarted ones rejoin."""
        self._version = int(version)
        for index in indices:
            self._stale.discard(index)

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        self._version = int(version)
        self._each(lambda e: e.update_weights_from_disk(path, version=version))
        self._catch_up(lambda e: e.update_weights_from_disk(path, version=version))

    def _catch_up(self, update: Callable[[RolloutEngine], None]) -> None:
        """Engines restarted during a fan-out missed the update: give it to them, then they are ready."""
        for index in sorted(self._stale):
            if self.engines[index].weight_version != self._version:
                update(self.engines[index])
            self._stale.discard(index)

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self._each(lambda e: e.release_memory_occupation(tags))

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self._each(lambda e: e.resume_memory_occupation(tags))

    def pause_generation(self) -> None:
        self._each(lambda e: e.pause_generation())

    def continue_generation(self) -> None:
        self._each(lambda e: e.continue_generation())

    def flush_cache(self) -> None:
        self._each(lambda e: e.flush_cache())

    def health(self) -> EngineHealth:
        reports = []
        for index in range(len(self.engines)):
            report = "dead" if index in self._dead else ("stale" if index in self._stale else "ready")
            reports.append(f"{index}: {report}")
        ready = self._ready()
        return EngineHealth(
            bool(ready), self._version, detail=f"{len(ready)}/{len(self.engines)} ready ({', '.join(reports)})"
        )

    @property
    def weight_version(self) -> int:
        return self._version

    def shutdown(self) -> None:
        errors = []
        for engine in self.engines:
            try:
                engine.shutdown()
            except EngineError as e:
                errors.append(str(e))
        if errors:
            raise EngineError("shutdown failed: " + "; ".join(errors))
