"""Run a function on ``world_size`` fresh processes joined in a gloo process group; collect results or failures.

    results = run_distributed(worker, 2, arg1, arg2, timeout=120)   # worker(rank, world_size, arg1, arg2)

* Processes are started with the ``spawn`` method of ``torch.multiprocessing`` (no inherited state) and
  rendezvous over TCP on a free local port.
* ``worker`` must be importable by its module path (define it at module level). Its return value is passed back
  serialized with ``torch.save``, so tensors need no shared-memory handles that die with the child.
* Any exception in a child is re-raised in the parent as :class:`ChildProcessError` carrying every failing
  rank's traceback; a child that dies without reporting (segfault, ``os._exit``) is reported with its exit code.
  After the first failure the other ranks get a short grace period, then are terminated: they are usually stuck
  in a collective waiting for the failed rank.
* ``timeout`` (seconds, from the start) kills every child and raises :class:`TimeoutError` naming the missing
  ranks; it is also the process group's collective timeout.
* ``device_strict=True`` runs the children with ``MEGATRON_MMUPT_DEVICE_STRICT=1``: the CPU shim then keeps a
  logical device per tensor and raises on a CPU/cuda mix as a GPU would (``actor/megatron/device_strict/``).
"""

from __future__ import annotations

import datetime
import io
import os
import queue
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

FAILURE_GRACE_S = 5.0
"""Seconds the surviving ranks get to report after one rank failed."""


def run_distributed(
    fn: Callable[..., Any],
    world_size: int,
    *args: Any,
    timeout: float = 120.0,
    backend: str = "gloo",
    device_strict: bool = False,
) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` processes; return the results ordered by rank."""
    ctx = mp.get_context("spawn")
    results_queue = ctx.Queue()
    port = _free_port()
    procs = [
        ctx.Process(
            target=_child,
            args=(fn, rank, world_size, port, backend, timeout, args, results_queue, device_strict),
            name=f"rank{rank}",
            # NOTE: not daemonic: Megatron's dist_checkpointing.save starts writer processes, which daemonic
            # processes may not have. `_stop` still kills every child that outlives the run.
            daemon=False,
        )
        for rank in range(world_size)
    ]
    for p in procs:
        p.start()
    try:
        results, errors = _collect(procs, results_queue, timeout)
    finally:
        _stop(procs)
    if errors:
        details = "\n".join(f"--- rank {rank} ---\n{errors[rank]}" for rank in sorted(errors))
        raise ChildProcessError(f"{len(errors)} of {world_size} rank(s) failed:\n{details}")
    return [results[rank] for rank in range(world_size)]


def _collect(procs: list, results_queue: Any, timeout: float) -> tuple[dict[int, Any], dict[int, str]]:
    results: dict[int, Any] = {}
    errors: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while len(results) + len(errors) < len(procs):
        now = time.monotonic()
        if now >= deadline:
            if errors:  # the grace period after a failure ran out: the others are stuck, not slow
                break
            missing = [r for r in range(len(procs)) if r not in results]
            raise TimeoutError(f"rank(s) {missing} did not finish within {timeout:.0f} s")
        try:
            kind, rank, payload = results_queue.get(timeout=min(deadline - now, 0.5))
        except queue.Empty:
            for rank, p in enumerate(procs):
                if rank not in results and rank not in errors and p.exitcode not in (None, 0):
                    errors[rank] = f"process exited with code {p.exitcode} without reporting"
            if errors:
                deadline = min(deadline, time.monotonic() + FAILURE_GRACE_S)
            continue
        if kind == "ok":
            results[rank] = torch.load(io.BytesIO(payload), weights_only=False)
        else:
            errors[rank] = payload
            deadline = min(deadline, time.monotonic() + FAILURE_GRACE_S)
    for rank in range(len(procs)):
        if errors and rank not in results and rank not in errors:
            errors[rank] = "terminated: did not finish after another rank failed"
    return results, errors


def _stop(procs: list) -> None:
    for p in procs:
        p.join(timeout=2.0)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=5.0)


def _child(
    fn: Callable[..., Any],
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    timeout: float,
    args: tuple,
    results_queue: Any,
    device_strict: bool = False,
) -> None:
    try:
        if device_strict:  # read by cpu_shim.apply(), before Megatron builds anything
            os.environ["MEGATRON_MMUPT_DEVICE_STRICT"] = "1"
        # One thread per rank: the ranks share the machine's cores.
        torch.set_num_threads(1)
        dist.init_process_group(
            backend,
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        result = fn(rank, world_size, *args)
        buffer = io.BytesIO()
        torch.save(result, buffer)
        results_queue.put(("ok", rank, buffer.getvalue()))
    except BaseException:
        results_queue.put(("error", rank, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _free_port() -> int:
    """A port that was free a moment ago (the usual race is harmless here: one rendezvous per test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
