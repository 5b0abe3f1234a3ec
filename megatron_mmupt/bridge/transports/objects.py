"""Local engines in Ray actors: rank 0 puts each bucket into Ray's object store, the engines fetch it.

Data flow: rank 0's exported buckets -> Ray's object store (once per sync, read by every engine) -> each
engine's process. The driver only told rank 0 which engines to reach; it never holds the weights. Each engine
checks the whole update before it applies any of it (``LocalEngine.update_weights``).
"""

from __future__ import annotations

from megatron_mmupt.bridge.transports.stream import BucketStream


class ObjectStoreSender:
    def push(self, stream: BucketStream, targets: tuple, *, version: int) -> None:
        import ray

        refs = [ray.put(bucket) for bucket in stream]  # one bucket at a time in this process
        ray.get([target.submit_objects(refs, version=version) for target in targets])

    def close(self) -> None:
        pass
