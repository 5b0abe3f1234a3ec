"""``serve``'s scheduler: samples arriving on many HTTP threads become batches for the one engine thread.

A client sends one request per sample (SGLang's recommended RL usage). The scheduler waits a short window
after the first sample for others, groups the samples by sampling parameters (one decode batch needs one
temperature, top-p, ...), and within a group by prompt, so the n requests of one prompt share a prefill
(what SGLang's radix cache achieves). While the engine is paused, new samples wait; a batch refused because
a pause came in between is queued again, never failed.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time

from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.rollout.engine import EnginePaused, SamplingConfig
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.sglang.protocol import GenerateItem
from megatron_mmupt.rollout.types import Rollout

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Job:
    """One sample to draw; ``done`` is set once ``rollout`` or ``error`` is."""

    item: GenerateItem
    prompt: Prompt
    seed: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    rollout: Rollout | None = None
    error: BaseException | None = None


def _sampling_key(sampling: SamplingConfig, item: GenerateItem) -> tuple:
    return (
        sampling.temperature,
        sampling.top_p,
        sampling.top_k,
        sampling.max_new_tokens,
        sampling.stop_token_ids,
        item.logit_bias,
    )


class Scheduler:
    """Runs jobs on ``engine`` in batches from one background thread."""

    def __init__(self, engine: LocalEngine, window_s: float) -> None:
        self.engine = engine
        self.window_s = window_s
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._running = 0
        self._thread = threading.Thread(target=self._loop, name="rollout-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    @property
    def busy(self) -> bool:
        """Samples are queued or being drawn (SGLang then refuses ``/flush_cache``)."""
        return self._running > 0 or not self._queue.empty()

    def run(self, jobs: list[Job]) -> None:
        """Queue ``jobs`` and wait for all of them (called from an HTTP handler thread)."""
        for job in jobs:
            self._queue.put(job)
        for job in jobs:
            job.done.wait()

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            jobs = [first]
            deadline = time.monotonic() + self.window_s
            while (left := deadline - time.monotonic()) > 0:
                try:
                    job = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # stop after this batch
                    break
                jobs.append(job)
            self.engine.wait_for_continue()
            self._running = len(jobs)
            try:
                self._run_batch(jobs)
            finally:
                self._running = 0

    def _run_batch(self, jobs: list[Job]) -> None:
        groups: dict[tuple, list[Job]] = {}
        for job in jobs:
            groups.setdefault(_sampling_key(job.item.sampling, job.item), []).append(job)
        for group in groups.values():
            by_prompt: dict[tuple, list[Job]] = {}
            for job in group:
                by_prompt.setdefault(job.item.prompt_key, []).append(job)
            members = list(by_prompt.values())
            item = group[0].item
            try:
                samples = self.engine.sample(
                    [m[0].prompt for m in members],
                    [[job.seed for job in m] for m in members],
                    item.sampling,
                    dict(item.logit_bias) or None,
                )
            except EnginePaused:  # a pause came between the wait and the call: try again after it
                for job in group:
                    self._queue.put(job)
                continue
            except Exception as e:  # every sample of the group reports it; the server keeps running
                logger.exception("generation failed")
                for job in group:
                    job.error = e
                    job.done.set()
                continue
            for member, rollouts in zip(members, samples, strict=True):
                for job, rollout in zip(member, rollouts, strict=True):
                    job.rollout = rollout
                    job.done.set()
