import threading
import time

import pytest

from megatron_mmupt.utils.time_limited_pool import Status, TimeLimitedPool, resolve_task

TASKS = "megatron_mmupt.testing.pool_tasks"


@pytest.fixture(scope="module")
def pool():
    with TimeLimitedPool(num_workers=2) as p:
        p.start()
        yield p


def test_results_in_order_across_workers(pool):
    assert pool.map(f"{TASKS}:square", list(range(7)), timeout_s=5) == [(Status.OK, i * i) for i in range(7)]
    pids = {value for _, value in pool.map(f"{TASKS}:pid", [0, 1], timeout_s=5)}
    assert len(pids) == 2  # both workers took part


def test_item_timeout_bounds_one_item_only(pool):
    results = pool.map(f"{TASKS}:sleep_then_return", [0.0, 30.0, 0.0], timeout_s=0.3)
    assert [s for s, _ in results] == [Status.OK, Status.TIMED_OUT, Status.OK]


def test_failures_are_reported_per_item(pool):
    ((status, message),) = pool.map(f"{TASKS}:fail", ["boom"], timeout_s=5)
    assert status is Status.FAILED and "RuntimeError: boom" in message
    ((status, message),) = pool.map("no.such.module:fn", [1], timeout_s=5)
    assert status is Status.FAILED and "cannot load" in message


def test_stray_prints_do_not_corrupt_the_protocol(pool):
    assert pool.map(f"{TASKS}:shout", ["ok"], timeout_s=5) == [(Status.OK, "OK")]


def test_works_from_any_thread(pool):
    # signal.alarm guards fail outside the main thread; the pool's must not.
    results = []
    thread = threading.Thread(target=lambda: results.append(pool.map(f"{TASKS}:sleep_then_return", [5.0], 0.2)))
    thread.start()
    thread.join(timeout=10)
    assert results == [[(Status.TIMED_OUT, None)]]


def test_a_worker_that_ignores_the_alarm_is_replaced():
    with TimeLimitedPool(num_workers=1) as pool:
        pool.start()
        (before,) = pool.map(f"{TASKS}:pid", [0], timeout_s=5)
        start = time.monotonic()
        assert pool.map(f"{TASKS}:ignore_alarm_and_sleep", [60.0], timeout_s=0.2) == [(Status.TIMED_OUT, None)]
        assert time.monotonic() - start < 10
        assert pool.num_restarts == 1 and pool.num_timeouts == 1
        # The replacement works (its start is lazy: allow the import time).
        ((status, after),) = pool.map(f"{TASKS}:pid", [0], timeout_s=5)
        assert status is Status.OK and after != before[1]


def test_task_names_must_name_a_module_and_function():
    with pytest.raises(ValueError, match=r"package.module:function"):
        resolve_task("megatron_mmupt.testing.pool_tasks.square")
    assert resolve_task(f"{TASKS}:square")(3) == 9


def test_empty_input_starts_nothing():
    pool = TimeLimitedPool(num_workers=1)
    assert pool.map(f"{TASKS}:square", [], timeout_s=1) == []
    assert pool._workers == []
    with pytest.raises(ValueError):
        TimeLimitedPool(num_workers=0)
