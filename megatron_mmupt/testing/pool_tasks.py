"""Tasks for testing ``utils.time_limited_pool``: workers import tasks by module path, so they live here."""

from __future__ import annotations

import os
import signal
import time


def square(x: int) -> int:
    return x * x


def sleep_then_return(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail(message: str) -> None:
    raise RuntimeError(message)


def ignore_alarm_and_sleep(seconds: float) -> float:
    """Blocks SIGALRM (as a C extension stuck outside the interpreter would), so only the parent's deadline helps."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)
    return seconds


def pid(_: object) -> int:
    return os.getpid()


def shout(text: str) -> str:
    print("stray output from a task must not corrupt the protocol")
    return text.upper()
