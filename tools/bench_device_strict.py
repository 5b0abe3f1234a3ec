"""Per-op cost of the CPU shim's modes: none, the plain device rewrite, and the device-strict mode.

    .venv/bin/python tools/bench_device_strict.py

Times ``a + b`` on 16 floats (the per-op overhead) and a ``Linear(64, 64)`` forward + backward step, each the best
of several repeats on one thread (the figures in ``actor/megatron/device_strict/__init__.py`` come from here).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from megatron_mmupt.actor.megatron import cpu_shim, device_strict


def best_us(fn: Callable[[], object], *, calls: int, repeats: int) -> float:
    """The fastest of ``repeats`` timings of ``calls`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def measure(device: str) -> tuple[float, float]:
    a, b = torch.ones(16, device=device), torch.ones(16, device=device)
    layer, x = torch.nn.Linear(64, 64).to(device), torch.randn(8, 64, device=device)
    op = best_us(lambda: a + b, calls=5000, repeats=15)
    step = best_us(lambda: layer(x).relu().sum().backward(), calls=100, repeats=10)
    return op, step


def main() -> None:
    torch.set_num_threads(1)
    results = {"no mode": measure("cpu")}
    with cpu_shim._CudaToCpu():
        results["plain shim"] = measure("cuda")
    with device_strict.active():
        results["device-strict"] = measure("cuda")
    for name, (op, step) in results.items():
        print(f"{name:14s} a + b: {op:5.1f} us/op   Linear(64, 64) fwd+bwd: {step:6.1f} us/step")


if __name__ == "__main__":
    main()
