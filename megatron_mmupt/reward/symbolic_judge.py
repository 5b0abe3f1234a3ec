"""Parent-side access to the symbolic grader: batching, caching, time limits, counters.

All calls are batched (one round trip per reward batch, not per answer) and cached across batches:
during training the same answer strings recur step after step. The backend decides where sympy runs:

* ``process`` (default): in ``TimeLimitedPool`` workers; a hostile answer costs at most ``timeout_s``,
  from any thread, inside Ray actors, under asyncio.
* ``inline``: in this process, without a time limit. Only for debugging and profiling.
* ``off``: no symbolic step; expressions are equal only when their normalized text is equal.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal

from megatron_mmupt.config.configurable import Configurable, check_choice, check_positive, check_range
from megatron_mmupt.utils.time_limited_pool import Status, TimeLimitedPool, resolve_task

_ANALYZE = "megatron_mmupt.reward.symbolic:analyze"
_EQUIVALENT = "megatron_mmupt.reward.symbolic:equivalent"


class _LRU:
    def __init__(self, capacity: int) -> None:
        self.capacity, self.data = capacity, collections.OrderedDict()

    def get(self, key: Hashable) -> Any:
        value = self.data.get(key, _MISSING)
        if value is not _MISSING:
            self.data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.capacity:
            self.data.popitem(last=False)


_MISSING = object()


def _run_inline(func: Any, item: Any) -> tuple[Status, Any]:
    try:
        return Status.OK, func(item)
    except Exception as e:
        return Status.FAILED, f"{type(e).__name__}: {e}"


class SymbolicJudge(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        backend: Literal["process", "inline", "off"] = "process"
        """Where sympy runs: isolated processes with a time limit, this process, or nowhere."""
        timeout_s: float = 2.0
        """Time limit per answer (or pair) in the ``process`` backend; a timed-out pair counts as different."""
        num_workers: int = 2
        """Grader processes working in parallel (each ~150 MB). Most answers never reach them."""
        cache_size: int = 100_000
        """Answers and pairs remembered across batches."""

        def __post_init__(self) -> None:
            check_choice("backend", self.backend, ("process", "inline", "off"))
            check_positive("timeout_s", self.timeout_s)
            check_range("num_workers", self.num_workers, 1, 64)
            check_range("cache_size", self.cache_size, 0)

    def __init__(self, config: Config) -> None:
        self.config = config
        self._pool: TimeLimitedPool | None = None
        self._cache = _LRU(config.cache_size)
        self.stats: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        """Start the grader processes now (they otherwise start on first use, ~1-2 s)."""
        if self.config.backend == "process":
            self._ensure_pool().start()

    def _ensure_pool(self) -> TimeLimitedPool:
        if self._pool is None:
            self._pool = TimeLimitedPool(self.config.num_workers, preload=["megatron_mmupt.reward.symbolic"])
        return self._pool

    def analyze(self, texts: Iterable[str]) -> dict[str, tuple[str, object]]:
        """``symbolic.analyze`` for each distinct text (``("unparsed", None)`` on timeout or failure)."""
        return self._run(_ANALYZE, "analyze", list(dict.fromkeys(texts)), ("unparsed", None))

    def equivalent(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """``symbolic.equivalent`` for each distinct pair (``False`` on timeout or failure)."""
        return self._run(_EQUIVALENT, "equivalent", list(dict.fromkeys(pairs)), False)

    def _run(self, fn: str, kind: str, items: Sequence[Hashable], default: Any) -> dict:
        if self.config.backend == "off" or not items:
            return dict.fromkeys(items, default)
        results, todo = {}, []
        for item in items:
            cached = self._cache.get((kind, item))
            if cached is _MISSING:
                todo.append(item)
            else:
                results[item] = cached
        self.stats[f"{kind}_cache_hits"] += len(items) - len(todo)
        self.stats[f"{kind}_calls"] += len(todo)
        for item, (status, value) in zip(todo, self._execute(fn, todo), strict=True):
            if status is not Status.OK:
                self.stats[f"{kind}_{status.value}"] += 1
            results[item] = value if status is Status.OK else default
            if status is not Status.TIMED_OUT:  # a timeout may be load, not the answer: retry next time
                self._cache.put((kind, item), results[item])
        return results

    def _execute(self, fn: str, items: list[Hashable]) -> list[tuple[Status, Any]]:
        if not items:
            return []
        if self.config.backend == "inline":
            return [_run_inline(resolve_task(fn), item) for item in items]
        return self._ensure_pool().map(fn, items, self.config.timeout_s)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
