"""Run a function over many items in worker processes, with a time limit per item.

Why processes: sympy (behind every symbolic math grader) can run for minutes on a hostile answer
and cannot be interrupted from another thread. ``signal.alarm`` guards only work in a process's main
thread, so they break inside trainer threads, Ray actors' worker threads, or asyncio executors.

How: each worker is a fresh interpreter (``python -m megatron_mmupt.utils.time_limited_pool``) that
talks over its stdin/stdout. Inside the worker (its own main thread) every item runs under
``signal.setitimer``, so one slow item costs at most ``timeout_s``. The parent never uses signals: it
waits on the pipe with a deadline, and if a worker misses it (a C extension ignoring the alarm, a
crash, a deadlock) the worker is killed and replaced, and its items report ``TIMED_OUT``. Callers
from several threads are serialized by a lock. Plain subprocesses rather than ``multiprocessing``:
nothing of the parent (its ``__main__`` module, threads, CUDA context) is re-imported or forked.

Protocol (length-prefixed pickles): parent -> worker ``(fn, items, timeout_s)`` where ``fn`` is a
``"package.module:function"`` string; worker -> parent ``list[(status, value)]``, one per item.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

_START_GRACE_S = 60.0  # a fresh worker imports sympy/math-verify before its first answer
_HEADER = struct.Struct("<Q")


class Status(enum.StrEnum):
    OK = "ok"
    TIMED_OUT = "timed_out"
    FAILED = "failed"


def resolve_task(fn: str) -> Callable[[Any], Any]:
    """``"package.module:function"`` -> the function."""
    module, sep, name = fn.partition(":")
    if not sep:
        raise ValueError(f"task {fn!r} must be given as 'package.module:function'")
    return getattr(importlib.import_module(module), name)


def ping(item: Any) -> Any:
    """A no-op task: its answer shows a worker has started and imported its preloads."""
    return item


# --- worker side -----------------------------------------------------------------------------------


class _ItemTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ItemTimeout


def _run_one(fn: Callable[[Any], Any], item: Any, timeout_s: float) -> tuple[Status, Any]:
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return Status.OK, fn(item)
    except _ItemTimeout:
        return Status.TIMED_OUT, None
    except Exception as e:  # a grader bug on one answer must not lose the batch
        return Status.FAILED, f"{type(e).__name__}: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _worker_main(preload: Sequence[str]) -> None:
    # The protocol owns the original stdout; anything the graded code prints goes to stderr.
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    protocol_in = sys.stdin.buffer
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for module in preload:
        importlib.import_module(module)
    while (message := _read_frame(protocol_in)) is not None:
        fn, items, timeout_s = message
        try:
            func = resolve_task(fn)
        except Exception as e:
            results = [(Status.FAILED, f"cannot load {fn!r}: {e}")] * len(items)
        else:
            results = [_run_one(func, item, timeout_s) for item in items]
        # Plain strings on the wire: this module runs as `__main__` here, so its classes would not unpickle.
        _write_frame(protocol_out, [(status.value, value) for status, value in results])


def _read_frame(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    return pickle.loads(stream.read(_HEADER.unpack(header)[0]))


def _write_frame(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


# --- parent side -----------------------------------------------------------------------------------


class _Worker:
    def __init__(self, preload: Sequence[str]) -> None:
        env = dict(os.environ)
        # The worker imports this package by name: make the source tree importable even when the
        # package is not installed (running from a checkout).
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, *preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.fresh = True

    def send(self, message: Any) -> None:
        _write_frame(self.process.stdin, message)

    def receive(self, timeout_s: float) -> Any:
        """The next reply, or ``TimeoutError`` after ``timeout_s``; ``EOFError`` if the worker died."""
        deadline = time.monotonic() + timeout_s
        fd = self.process.stdout.fileno()
        header = _read_exact(fd, _HEADER.size, deadline)
        return pickle.loads(_read_exact(fd, _HEADER.unpack(header)[0], deadline))

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(timeout=5)
        self._close_pipes()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.process.stdin.close()  # EOF: the worker's loop ends
            self.process.wait(timeout=2)
        if self.process.poll() is None:
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(Exception):
                stream.close()


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    chunks, remaining = [], size
    while remaining:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, remaining)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class TimeLimitedPool:
    """A small pool of worker processes; see the module docstring for the protocol.

    Args:
        num_workers: processes that run items in parallel (started lazily, on first use).
        preload: modules each worker imports at start, before its first item.
    """

    def __init__(self, num_workers: int = 1, preload: Sequence[str] = ()) -> None:
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.num_workers = num_workers
        self.preload = tuple(preload)
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.num_timeouts = 0
        self.num_restarts = 0
        _live_pools.add(self)

    def start(self) -> None:
        """Start every worker and wait until each has imported its preloads (otherwise start is lazy)."""
        with self._lock:
            self._ensure_workers()
            for worker in self._workers:
                if worker.fresh:
                    worker.send((f"{__name__}:ping", [None], 1.0))
                    self._collect(worker, [None], 1.0)

    def _ensure_workers(self) -> None:
        while len(self._workers) < self.num_workers:
            self._workers.append(_Worker(self.preload))

    def map(self, fn: str, items: Sequence[Any], timeout_s: float) -> list[tuple[Status, Any]]:
        """Apply the function named ``fn`` to each item; ``(status, value)`` per item, in order."""
        if not items:
            return []
        with self._lock:
            self._ensure_workers()
            busy = []
            for worker, chunk in zip(self._workers, _split(list(items), len(self._workers)), strict=False):
                with contextlib.suppress(OSError):  # died since its last batch: _collect replaces it
                    worker.send((fn, chunk, timeout_s))
                busy.append((worker, chunk))
            results: list[tuple[Status, Any]] = []
            for worker, chunk in busy:
                results.extend(self._collect(worker, chunk, timeout_s))
            self.num_timeouts += sum(status is Status.TIMED_OUT for status, _ in results)
            return results

    def _collect(self, worker: _Worker, chunk: list[Any], timeout_s: float) -> list[tuple[Status, Any]]:
        grace = _START_GRACE_S if worker.fresh else 1.0
        try:
            reply = worker.receive(timeout_s * len(chunk) + grace)
            worker.fresh = False
            return [(Status(status), value) for status, value in reply]
        except (TimeoutError, EOFError, OSError, pickle.UnpicklingError, ValueError):
            # Missed its deadline or died: replace it; its unanswered items count as timed out.
            self.num_restarts += 1
            worker.kill()
            self._workers[self._workers.index(worker)] = _Worker(self.preload)
            return [(Status.TIMED_OUT, None)] * len(chunk)

    def close(self) -> None:
        with self._lock:
            for worker in self._workers:
                worker.close()
            self._workers.clear()

    def __enter__(self) -> TimeLimitedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split(items: list[Any], n: int) -> list[list[Any]]:
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


_live_pools: weakref.WeakSet[TimeLimitedPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_live_pools):
        pool.close()


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
