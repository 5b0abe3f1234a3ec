"""Benchmark: fused log-prob + entropy (megatron_mmupt.algorithm.logprobs) vs the naive autograd path.

    python tools/bench_logprobs.py                         # logits [8, 2048, 32768], fp32 and bf16
    python tools/bench_logprobs.py --shape 4,1024,32768 --reps 5 --dtypes fp32

Both paths compute, for every token, the target log-prob and the entropy of ``softmax(logits)``, then run
backward of ``sum(w1 * logprob + w2 * entropy)`` (random weights, so both gradients are exercised):

* naive: ``logp = log_softmax(logits.float()); logp.gather(target); -(logp.exp() * logp).sum(-1)``;
* fused: ``token_logprobs_and_entropy(logits, targets)`` (full vocabulary, default chunking).

Method.
* Time: both paths run in the same process on the same inputs, alternating rep by rep (naive, fused, naive,
  ...) after one warm-up each, so that background load on a shared machine hits both alike; the median of
  ``--reps`` forward+backward passes is reported.
* Memory: every (path, dtype) runs once more in a *fresh subprocess*, so that allocator caches and the peak of
  one variant cannot leak into another. Reported: the process's peak resident set (``VmHWM`` in
  ``/proc/self/status``) minus its resident set after the inputs are allocated, the peak being reset first
  through ``/proc/self/clear_refs`` (Linux), after a tiny warm-up pass has loaded the kernels' code pages.
  It counts everything the pass allocates (outputs, temporaries,
  autograd buffers, and the logits gradient that both paths must produce): what the OS has to provide.
  ``tracemalloc`` cannot see torch's allocations, so it is not used.
Results are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

from megatron_mmupt.algorithm.logprobs import token_logprobs_and_entropy

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def naive_logprobs_and_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The usual autograd path: full fp32 log-softmax, gather, and ``-(p * log p).sum``. ``# (B, S, V)``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)


PATHS = {"naive": naive_logprobs_and_entropy, "fused": token_logprobs_and_entropy}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # "5" resets the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


def _inputs(dtype_name: str, shape: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    batch, seq, vocab = shape
    logits = torch.randn(batch, seq, vocab, dtype=DTYPES[dtype_name])
    targets = torch.randint(0, vocab, (batch, seq))
    return logits, targets, torch.randn(batch, seq), torch.randn(batch, seq)


def _one_pass(path: str, logits: torch.Tensor, targets: torch.Tensor, w_lp: torch.Tensor, w_ent: torch.Tensor) -> float:
    """Forward + backward of one path; returns seconds. The gradient is freed before returning."""
    x = logits.detach().requires_grad_()
    start = time.perf_counter()
    lp, ent = PATHS[path](x, targets)
    ((lp * w_lp).sum() + (ent * w_ent).sum()).backward()
    return time.perf_counter() - start


def measure_memory(path: str, dtype_name: str, shape: tuple[int, int, int]) -> dict:
    """Peak extra resident memory of one pass of ``path`` (run this in a fresh process)."""
    # A tiny warm-up pass first: loading kernels' code pages must not count as the pass's memory.
    _one_pass(path, *_inputs(dtype_name, (1, 4, shape[2])))
    logits, targets, w_lp, w_ent = _inputs(dtype_name, shape)
    baseline_kib = _status_kib("VmRSS")
    reset_ok = _reset_peak_rss()
    seconds = _one_pass(path, logits, targets, w_lp, w_ent)
    return {
        "peak_extra_mib": (_status_kib("VmHWM") - baseline_kib) / 1024,
        "first_pass_s": seconds,
        "logits_mib": logits.numel() * logits.element_size() / 2**20,
        "peak_reset": reset_ok,
    }


def measure_time(dtype_name: str, shape: tuple[int, int, int], reps: int) -> dict[str, list[float]]:
    """Interleaved timings of both paths in this process: ``{path: [seconds per rep]}`` (warm-up excluded)."""
    inputs = _inputs(dtype_name, shape)
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    for rep in range(reps + 1):
        for path in PATHS:
            seconds = _one_pass(path, *inputs)
            if rep > 0:
                times[path].append(seconds)
    return times


def memory_in_subprocess(path: str, dtype_name: str, shape: tuple[int, int, int]) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker", path, "--dtypes", dtype_name]
    cmd += ["--shape", ",".join(map(str, shape))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict], shape: tuple[int, int, int], reps: int) -> str:
    lines = [
        f"logits {list(shape)}, forward+backward of log-prob + entropy; time: median of {reps} interleaved reps; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs",
        "",
        "| dtype | path | time (s), median [min, max] | peak extra memory (MiB) | time naive/fused | memory naive/fused |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio_t = ratio_m = ""
        if row["path"] == "fused":
            naive = next(r for r in rows if r["dtype"] == row["dtype"] and r["path"] == "naive")
            ratio_t = f"{naive['median_s'] / row['median_s']:.2f}x"
            ratio_m = f"{naive['peak_extra_mib'] / row['peak_extra_mib']:.2f}x"
        lines.append(
            f"| {row['dtype']} | {row['path']} | {row['median_s']:.2f} [{min(row['times_s']):.2f}, {max(row['times_s']):.2f}] "
            f"| {row['peak_extra_mib']:.0f} "
            f"| {ratio_t} | {ratio_m} |"
        )
    sizes = ", ".join(f"{r['dtype']} {r['logits_mib']:.0f} MiB" for r in rows if r["path"] == "naive")
    lines += ["", f"Logits (inputs, not counted): {sizes}. Their gradient, of the same size, is counted."]
    if not all(r["peak_reset"] for r in rows):
        lines.append("WARNING: /proc/self/clear_refs was not writable; peaks include the input allocation.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="8,2048,32768", help="B,S,V of the logits (default 8,2048,32768)")
    parser.add_argument("--dtypes", default="fp32,bf16", help="comma-separated subset of fp32,bf16")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per path after one warm-up")
    parser.add_argument("--memory-worker", choices=sorted(PATHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    if len(shape) != 3:
        parser.error("--shape takes three integers B,S,V")
    dtypes = args.dtypes.split(",")
    if args.memory_worker:
        print(json.dumps(measure_memory(args.memory_worker, dtypes[0], shape)))
        return
    rows = []
    for dtype_name in dtypes:
        # Memory first, in subprocesses, while this process holds no large tensor.
        memory = {path: memory_in_subprocess(path, dtype_name, shape) for path in PATHS}
        times = measure_time(dtype_name, shape, args.reps)
        for path in PATHS:
            median = statistics.median(times[path])
            rows.append({"dtype": dtype_name, "path": path, "median_s": median, "times_s": times[path], **memory[path]})
            print(f"{dtype_name} {path}: times {[round(t, 2) for t in times[path]]} s, {memory[path]}", file=sys.stderr)
    print(format_table(rows, shape, args.reps))


if __name__ == "__main__":
    main()
