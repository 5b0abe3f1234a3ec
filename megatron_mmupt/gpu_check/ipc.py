"""One weight bucket handed to another process by CUDA-IPC handle (shared memory on the CPU), bit-exact, GB/s.

The path is the tensor weight sync's (``rollout/sglang/transports/payload.py``): ``pack`` puts the bucket into
one fresh buffer, ``serialize`` pickles handles to it with torch's ``ForkingPickler`` reductions, the receiver
``deserialize``s (its unpickler accepts torch's rebuild functions only) and copies the tensors into its own
memory, as an engine's ``load_weights`` does. The receiver is a ``torch.multiprocessing`` spawn child on the
same GPU. Bit-exactness is checked by the same path in reverse: the receiver sends its copy back and the
sender compares it with what it sent (``torch.equal``, every byte).

Timed per round, the sender's clock: from handing the packed buffer over to the receiver's report that its
copy is complete (handle open, copy, synchronize, one queue message). GB/s counts the bucket's bytes once.
The baseline is one ``copy_`` of the same bytes between two buffers of this process (device to device).

Where sglang is not installed (the bare GPU machines), ``serialize`` cannot name the GPU by UUID (SGLang's
reduction patch); the check then pickles with torch's own reduction, which names it by index: the same
handles and the same copy, valid here because both processes see the same devices.
"""

from __future__ import annotations

import base64
import io
import math
import pickle
import queue
import statistics
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.gpu_check.actors import ActorContext
from megatron_mmupt.gpu_check.workload import Workload, device_name, same_bytes, synchronize

ROUNDS = 3
COPY_REPEATS = 5
TIMEOUT_S = 120.0
_DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}
"""safetensors' dtype names."""


def _payload() -> Any:
    # NOTE: one import site: the rollout package is being split into subpackages (issue 24, item 4).
    from megatron_mmupt.rollout.sglang.transports import payload

    return payload


def encode(views: list[tuple[str, torch.Tensor]]) -> tuple[str, str]:
    """The wire payload of ``views`` and how it was made (``payload.serialize`` or torch's reduction)."""
    try:
        return _payload().serialize(views), "payload.serialize"
    except ImportError:  # sglang absent: see the module docstring
        buffer = io.BytesIO()
        ForkingPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(views)
        return base64.b64encode(buffer.getvalue()).decode("ascii"), "ForkingPickler (GPU by index, sglang absent)"


def receiver(requests: Any, replies: Any, mode: str) -> None:
    """The child: copy every bucket it is sent into its own memory, report, send the copy back, wait."""
    payload = _payload()
    workload_device = torch.device("cuda", 0) if mode == "gpu" else torch.device("cpu")
    torch.empty(1, device=workload_device)  # the CUDA context, before any timed round
    replies.put(("ready", None))
    while (message := requests.get()) is not None:
        copies = [(name, tensor.clone()) for name, tensor in payload.deserialize(message)]
        if mode == "gpu":
            torch.cuda.synchronize()
        replies.put(("copied", None))
        flat, views = payload.pack(copies)
        if mode == "gpu":
            torch.cuda.synchronize()
        replies.put(("echo", encode(views)[0]))
        requests.get()  # the sender's acknowledgement: ``flat`` must live until it has compared
        del flat, views, copies


def weight_bucket(model_dir: Path, bucket_bytes: int, device: torch.device) -> list[tuple[str, torch.Tensor]]:
    """Checkpoint tensors in name order, each smaller than the bucket, until the next would not fit."""
    from safetensors import safe_open

    bucket, size = [], 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as tensors:
            for name in sorted(tensors.keys()):
                header = tensors.get_slice(name)  # shape and dtype without reading the data (1 GB embeddings)
                nbytes = math.prod(header.get_shape()) * _DTYPE_BYTES[header.get_dtype()]
                if size + nbytes > bucket_bytes:
                    continue
                bucket.append((name, tensors.get_tensor(name).to(device)))
                size += nbytes
    return bucket


def _get(replies: Any, expected: str, child: Any) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            kind, value = replies.get(timeout=1.0)
        except queue.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the receiver died (exit code {child.exitcode}) before '{expected}'") from None
            continue
        if kind != expected:
            raise RuntimeError(f"the receiver answered '{kind}', expected '{expected}'")
        return value
    raise TimeoutError(f"the receiver did not answer '{expected}' within {TIMEOUT_S:.0f} s")


def _round(bucket: list, requests: Any, replies: Any, child: Any, workload: Workload) -> dict[str, Any]:
    payload = _payload()
    start = time.perf_counter()
    flat, views = payload.pack(bucket)
    synchronize(workload)
    pack_seconds = time.perf_counter() - start
    start = time.perf_counter()
    message, how = encode(views)
    requests.put(message)
    _get(replies, "copied", child)
    seconds = time.perf_counter() - start
    echoed = payload.deserialize(_get(replies, "echo", child))
    exact = len(echoed) == len(bucket) and all(
        a == b and same_bytes(x, y) for (a, x), (b, y) in zip(echoed, bucket, strict=True)
    )
    del echoed
    requests.put("ack")
    del flat  # the receiver has its own copy; torch's IPC refcount keeps the buffer until its handle closes
    return {"seconds": seconds, "pack_seconds": pack_seconds, "bit_exact": exact, "serializer": how}


def copy_seconds(nbytes: int, workload: Workload) -> float:
    """Median seconds of one ``copy_`` of ``nbytes`` between two buffers of this process."""
    source = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device=workload.real_device)
    target = torch.empty_like(source)
    times = []
    for _ in range(COPY_REPEATS + 1):
        synchronize(workload)
        start = time.perf_counter()
        target.copy_(source)
        synchronize(workload)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first is a warm-up


def ipc_section(ctx: ActorContext) -> tuple[dict[str, Any], list[str]]:
    import torch.multiprocessing as mp

    workload = ctx.workload
    bucket = weight_bucket(ctx.model_dir, workload.bucket_bytes, workload.real_device)
    nbytes = sum(t.numel() * t.element_size() for _, t in bucket)
    spawn = mp.get_context("spawn")
    requests, replies = spawn.Queue(), spawn.Queue()
    child = spawn.Process(target=receiver, args=(requests, replies, workload.mode), daemon=True)
    child.start()
    try:
        _get(replies, "ready", child)
        rounds = [_round(bucket, requests, replies, child, workload) for _ in range(ROUNDS)]
        requests.put(None)
        child.join(timeout=30)
    finally:
        if child.is_alive():
            child.kill()
    seconds = [r["seconds"] for r in rounds]
    baseline = copy_seconds(nbytes, workload)
    figures = {
        "device": device_name(workload),
        "bucket_bytes": nbytes,
        "bucket_tensors": len(bucket),
        "serializer": rounds[0]["serializer"],
        "bit_exact": all(r["bit_exact"] for r in rounds),
        "round_seconds": seconds,
        "pack_seconds": [r["pack_seconds"] for r in rounds],
        "ipc_gb_per_s": nbytes / statistics.median(seconds) / 1e9,
        "ipc_first_round_gb_per_s": nbytes / seconds[0] / 1e9,
        "copy_seconds": baseline,
        "copy_gb_per_s": nbytes / baseline / 1e9,
        "transport": "CUDA-IPC handles" if workload.mode == "gpu" else "shared memory (file_system sharing)",
    }
    problems = [] if figures["bit_exact"] else ["the receiver's copy differs from the bucket sent"]
    if not bucket:
        problems.append(f"no checkpoint tensor fits a bucket of {workload.bucket_bytes} bytes")
    return figures, problems
