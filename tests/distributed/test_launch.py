"""The distributed test launcher: results by rank, child exceptions with tracebacks, timeouts."""

from __future__ import annotations

import os
import time

import pytest
import torch
import torch.distributed as dist

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed


def _all_reduce_worker(rank: int, world_size: int, scale: float) -> dict:
    x = torch.tensor([float(rank + 1)]) * scale
    dist.all_reduce(x)
    return {"rank": rank, "world": world_size, "sum": x, "pid": os.getpid()}


def _failing_worker(rank: int, world_size: int) -> None:
    if rank == 1:
        raise RuntimeError("rank one exploded on purpose")
    dist.barrier()  # rank 0 waits for a rank that never comes: the launcher must not hang


def _sleeping_worker(rank: int, world_size: int) -> None:
    time.sleep(600)


def _exiting_worker(rank: int, world_size: int) -> None:
    if rank == 0:
        os._exit(3)
    dist.barrier()


def test_results_come_back_ordered_by_rank():
    results = run_distributed(_all_reduce_worker, 2, 10.0, timeout=120)
    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["world"] == 2 and r["sum"].item() == 30.0 for r in results)
    assert results[0]["pid"] != results[1]["pid"] != os.getpid()


def test_child_exception_is_raised_with_its_traceback():
    start = time.monotonic()
    with pytest.raises(ChildProcessError) as err:
        run_distributed(_failing_worker, 2, timeout=120)
    message = str(err.value)
    assert "--- rank 1 ---" in message and "RuntimeError: rank one exploded on purpose" in message
    assert "_failing_worker" in message  # the child's traceback, not just the message
    assert time.monotonic() - start < 60  # rank 0's stuck barrier did not wait for the 120 s timeout


def test_child_that_dies_without_reporting_is_reported():
    with pytest.raises(ChildProcessError, match="exited with code 3 without reporting"):
        run_distributed(_exiting_worker, 2, timeout=120)


def test_timeout_kills_children():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"rank\(s\) \[0, 1\] did not finish within 8 s"):
        run_distributed(_sleeping_worker, 2, timeout=8)
    assert time.monotonic() - start < 30
