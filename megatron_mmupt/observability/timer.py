"""Wall-clock time per named stage of a training step: ``time/rollout``, ``time/train``, ..., ``time/step``.

    timer = StageTimer(sync=torch.cuda.synchronize)      # sync: make GPU work count in the stage that queued it
    with timer.stage("rollout"):
        groups = rollout.generate(prompts)
    with timer.stage("train"):
        with timer.stage("logprobs"):                     # nested: reported as time/train/logprobs
            ...
    metrics |= timer.pop()                               # {"time/rollout", "time/train", "time/train/logprobs",
                                                         #  "time/other", "time/step"}

Semantics (decided here, tested in ``tests/unit/observability/test_stage_timer.py``):

* A step runs from the previous ``pop()`` (or the timer's creation) to this ``pop()``; ``time/step`` is that
  wall time, so it includes everything, timed or not (logging, checkpointing).
* Entering the same stage several times in one step adds up (two rollout calls -> one ``time/rollout``).
* Nesting is allowed: a stage entered inside another is reported under the outer one's key
  (``time/train/logprobs``), and its time also counts in the outer stage. Only top-level stages partition the step:
  ``time/other = time/step - sum(top-level stages)`` is the untimed remainder (never negative).
* A stage that raises still records its time. ``pop()`` inside an open stage is an error: a step boundary cannot
  lie inside a stage.
* One timer belongs to one thread (the stack of open stages is not shared between threads).

CUDA kernels run asynchronously, so without ``sync`` a stage's time is the time to *queue* its work, and the
wait shows up in whichever later stage first synchronizes. ``sync=torch.cuda.synchronize`` is called on entry
and exit of every stage to attribute time exactly, at the cost of those synchronizations.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

RESERVED_STAGES = frozenset({"step", "other"})
"""Top-level names the timer reports itself."""


class StageTimer:
    def __init__(self, *, sync: Callable[[], None] | None = None, clock: Callable[[], float] = time.perf_counter):
        """``sync``: called before reading the clock at each stage boundary (e.g. ``torch.cuda.synchronize``).
        ``clock``: monotonic seconds; injectable for tests."""
        self._sync = sync
        self._clock = clock
        self._open: list[str] = []  # keys of the open stages, outermost first
        self._totals: dict[str, float] = {}  # key ("train/logprobs") -> seconds this step
        self._step_start = clock()  # NOTE: no sync here: CUDA may not be initialized when the timer is built

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as stage ``name`` (nested inside the currently open stage, if any)."""
        if not name or "/" in name:
            raise ValueError(f"stage name {name!r} must be non-empty and contain no '/' (nesting makes the path)")
        if not self._open and name in RESERVED_STAGES:
            raise ValueError(f"stage name {name!r} is reserved at the top level: {sorted(RESERVED_STAGES)}")
        key = f"{self._open[-1]}/{name}" if self._open else name
        start = self._now()
        self._open.append(key)
        try:
            yield
        finally:
            self._open.pop()
            self._totals[key] = self._totals.get(key, 0.0) + self._now() - start

    def pop(self) -> dict[str, float]:
        """Seconds per stage of the step that ends now, ``time/<stage>`` plus ``time/other`` and ``time/step``;
        starts the next step."""
        if self._open:
            raise RuntimeError(f"pop() inside the open stage {self._open[-1]!r}: end the stage first")
        now = self._now()
        step = now - self._step_start
        top_level = sum(seconds for key, seconds in self._totals.items() if "/" not in key)
        out = {f"time/{key}": seconds for key, seconds in self._totals.items()}
        out["time/other"] = max(step - top_level, 0.0)
        out["time/step"] = step
        self._totals = {}
        self._step_start = now
        return out

    def _now(self) -> float:
        if self._sync is not None:
            self._sync()
        return self._clock()
