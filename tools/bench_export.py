"""Benchmark: streaming HF export (``bridge.exporter.iter_hf_buckets``) vs a plain ``state_dict()`` copy.

    python tools/bench_export.py                      # tiny and 1024x8 models, TP=1 and TP=2, markdown table
    python tools/bench_export.py --models large --reps 5 --bucket-mib 16,512

Every measurement runs under ``torchrun`` (``--nproc_per_node`` = TP: one process for TP=1, two gloo processes
for TP=2) on a randomly initialized Megatron Qwen2.5-VL built from a transformers config (no weights on disk).
In the same processes, alternating rep by rep after one warm-up, it times:

* ``state_dict copy``: ``{k: v.clone() for k, v in model.state_dict().items()}``: this rank's shards, the
  memory-bandwidth floor of producing the same bytes;
* ``export (all)``: ``iter_hf_buckets(receivers=ALL)`` to exhaustion: TP all-gather, merge (QKV / gate-up
  split, vocabulary cut) and bucketing; every rank ends up with every full HF tensor;
* ``export (first)``: ``receivers=FIRST``: TP gather to rank 0 only (what ``convert mcore-to-hf`` uses).

GB/s = bytes produced on one rank / median wall time (10^9 bytes): the full HF model for the exports, this
rank's shards for the copy; the ratio is export GB/s / copy GB/s. Times are the slowest rank's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

MODELS = {  # name: TinyQwen2_5_VLConfig fields and the vocabulary
    "tiny": ({}, 512),
    "large": (
        dict(
            hidden_size=1024, intermediate_size=2816, num_layers=8, num_attention_heads=16, num_key_value_heads=4,
            mrope_section=(8, 12, 12), vision_hidden_size=256, vision_intermediate_size=1024, vision_depth=4,
            vision_num_heads=4,
        ),
        32000,
    ),
}  # fmt: skip


def hf_config(name: str):
    from megatron_mmupt.models.tiny_qwen2_5_vl import TinyQwen2_5_VLConfig
    from megatron_mmupt.models.tiny_qwen2_5_vl import hf_config as tiny_config

    sizes, vocab = MODELS[name]
    tokens = {"vocab_size": vocab, "eos_token_id": 2, "pad_token_id": 1, "image_token_id": 3, "video_token_id": 4}
    tokens |= {"vision_start_token_id": 5, "vision_end_token_id": 6}
    processor = {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2}
    return tiny_config(TinyQwen2_5_VLConfig(vocab_multiple=1, **sizes), tokens | processor)


def _timed(fn) -> float:
    dist.barrier()
    start = time.perf_counter()
    fn()
    elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)  # the slowest rank's time
    return float(elapsed)


def worker(model_name: str, tp: int, reps: int, bucket_sizes: list[int]) -> dict | None:
    """Runs on every torchrun rank; returns the measurements on rank 0."""
    from megatron_mmupt.actor.megatron.model_provider import build_model
    from megatron_mmupt.bridge.convert.session import parallel_session
    from megatron_mmupt.bridge.exporter import Receivers, export_plan, iter_hf_buckets
    from megatron_mmupt.parallel.config import ParallelConfig

    parallel, config = ParallelConfig(tensor_degree=tp), hf_config(model_name)
    with parallel_session(parallel) as groups:
        model = build_model(config, parallel, groups, spec="local")
        hf_bytes = sum(item.hf_nbytes for item in export_plan(model, config, groups, spec="local"))
        local_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values() if torch.is_tensor(t))
        paths = {"state_dict copy": lambda: {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}}
        for receivers in Receivers if tp > 1 else [Receivers.ALL]:
            for size in bucket_sizes:
                paths[f"export ({receivers.value}, {size >> 20} MiB buckets)"] = lambda r=receivers, s=size: [
                    None for _ in iter_hf_buckets(model, config, groups, spec="local", bucket_bytes=s, receivers=r)
                ]
        times: dict[str, list[float]] = {path: [] for path in paths}
        for rep in range(reps + 1):
            for path, fn in paths.items():
                seconds = _timed(fn)
                if rep:
                    times[path].append(seconds)
        if dist.get_rank():
            return None
        return {"model": model_name, "tp": tp, "hf_bytes": hf_bytes, "local_bytes": local_bytes, "times": times}


def run_torchrun(model_name: str, tp: int, reps: int, bucket_mib: str) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={tp}", f"--master_port={port}"]
    cmd += [str(Path(__file__).resolve()), "--worker", model_name, "--tp", str(tp), "--reps", str(reps)]
    cmd += ["--bucket-mib", bucket_mib]
    threads = max(1, (os.cpu_count() or 1) // tp)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"threads": threads}


def format_table(rows: list[dict], reps: int) -> str:
    lines = [
        f"median of {reps} interleaved reps after one warm-up; torch {torch.__version__}, {os.cpu_count()} CPUs, gloo",
        "",
        "| model | TP | threads/rank | path | MB produced per rank | time (ms) | GB/s | vs copy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        copy = statistics.median(row["times"]["state_dict copy"])
        copy_rate = row["local_bytes"] / copy / 1e9
        for path, times in row["times"].items():
            nbytes = row["local_bytes"] if path == "state_dict copy" else row["hf_bytes"]
            median = statistics.median(times)
            rate = nbytes / median / 1e9
            lines.append(
                f"| {row['model']} | {row['tp']} | {row['threads']} | {path} | {nbytes / 1e6:.1f} | "
                f"{median * 1e3:.1f} | {rate:.2f} | {rate / copy_rate:.2f}x |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny,large", help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--tps", default="1,2", help="tensor-parallel degrees (= processes), default 1,2")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions after one warm-up (default 5)")
    parser.add_argument("--bucket-mib", default="16,512", help="bucket sizes in MiB (default 16,512)")
    parser.add_argument("--worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--tp", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sizes = [int(m) << 20 for m in args.bucket_mib.split(",")]
        result = worker(args.worker, args.tp, args.reps, sizes)
        if result is not None:
            print(json.dumps(result))
        return
    rows = []
    for model_name in args.models.split(","):
        for tp in (int(t) for t in args.tps.split(",")):
            rows.append(run_torchrun(model_name, tp, args.reps, args.bucket_mib))
            print(f"done: {model_name} tp={tp}", file=sys.stderr)
    print(format_table(rows, args.reps))


if __name__ == "__main__":
    main()
