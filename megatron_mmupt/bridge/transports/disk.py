"""Any engine, any host with a shared file system: rank 0 writes safetensors, every engine loads them.

Data flow: rank 0's buckets -> ``disk_dir/v<version>/*.safetensors`` (written under temporary names and renamed,
the index last) -> each engine reads the folder (SGLang's ``/update_weights_from_disk``, or the local engine's
Ray actor). The previous version's folder is removed once every engine has loaded the new one. No update session:
SGLang loads a disk checkpoint through its model loader, which post-processes the weights itself
(``sglang/transports/calls.py``). The slowest
transport, and the one that needs nothing but a path every process sees.
"""

from __future__ import annotations

from pathlib import Path

from megatron_mmupt.bridge.transports.stream import BucketStream
from megatron_mmupt.rollout.ray_local import LocalEngineTarget
from megatron_mmupt.rollout.sglang.transports.calls import ServerEndpoint, update_from_disk
from megatron_mmupt.rollout.sglang.transports.single import DiskTransport


class DiskSender:
    def __init__(self, folder: str) -> None:
        if not folder:
            raise ValueError("the disk weight transport needs rollout.weight_sync.disk_dir (a shared folder)")
        self.transport = DiskTransport(Path(folder))

    def push(self, stream: BucketStream, targets: tuple, *, version: int) -> None:
        path = self.transport.write(stream, version=version, spec=None)  # the stream checks each bucket
        pending = [t.submit_disk(str(path), version=version) for t in targets if isinstance(t, LocalEngineTarget)]
        for target in targets:
            if isinstance(target, ServerEndpoint):
                update_from_disk(target, path, version=version)
        if pending:  # local engines' Ray actors (only imported then: an HTTP-only run needs no Ray here)
            import ray

            ray.get(pending)
        self.transport.loaded(path)

    def close(self) -> None:
        pass
