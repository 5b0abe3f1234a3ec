"""Peak memory of encoding one weight bucket for ``/update_weights_from_tensor``: the copies a sender makes.

    python tools/bench_payload.py [--mb 512]

Two ways to build SGLang's ``flattened_bucket`` payload from a bucket, each in a fresh process (peak RSS above the
bucket itself, ``ru_maxrss``):

* ``pack+FlattenedTensorBucket`` (before): ``pack`` copies the bucket into one fresh buffer, then SGLang's
  ``FlattenedTensorBucket(named_tensors=views)`` ``cat``s the views into a second one (SGLang 0.5.23's own class,
  loaded from ``.venv/sglang-site`` as a file: it imports only torch), which is then serialized;
* ``encode_bucket`` (now): the one packed buffer, with the metadata written over it, serialized.

Both include serialization. On the CPU a tensor not already in shared memory is copied there when it is pickled
(torch's ``file_system`` strategy), so the old path pays a third copy here; ``pack`` now allocates its buffer in
shared memory. On a GPU (CUDA-IPC handles, no copy when pickled) the old path makes two copies, the new one one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

SGLANG_BUCKET = Path(sys.prefix) / "sglang-site" / "sglang" / "srt" / "weight_sync" / "tensor_bucket.py"


def _bucket(mb: int) -> list[tuple[str, torch.Tensor]]:
    per = mb * 2**20 // 8 // 4  # 8 float32 tensors
    return [(f"layer.{i}.weight", torch.full((per,), float(i))) for i in range(8)]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _measure(method: str, mb: int) -> dict[str, float]:
    bucket = _bucket(mb)
    for _, t in bucket:  # touch every page, so the bucket itself is in the baseline
        t.add_(0)
    base = _peak_mb()
    if method == "encode_bucket":
        from megatron_mmupt.rollout.sglang.transports.payload import encode_bucket

        encoded = encode_bucket(bucket)
    else:
        from megatron_mmupt.rollout.sglang.transports.payload import pack

        spec = importlib.util.spec_from_file_location("sglang_tensor_bucket", SGLANG_BUCKET)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        from megatron_mmupt.rollout.sglang.transports.payload import serialize

        _flat, views = pack(bucket)
        packed = module.FlattenedTensorBucket(named_tensors=views)
        encoded = serialize({"flattened_tensor": packed.get_flattened_tensor(), "metadata": []})
    del encoded
    return {"bucket_mb": mb, "peak_above_bucket_mb": round(_peak_mb() - base, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=512, help="bucket size in MiB (default 512)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.mb)))
        return
    for method in ("pack+FlattenedTensorBucket", "encode_bucket"):
        out = subprocess.run([sys.executable, __file__, "--mb", str(args.mb), "--child", method],
                             capture_output=True, text=True, check=True)  # fmt: skip
        print(f"{method:28s} {out.stdout.strip()}")


if __name__ == "__main__":
    main()
