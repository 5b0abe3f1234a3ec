"""Weight sync from the actor's ranks to the rollout engines: one sender per transport, one pusher per rank.

    pusher = WeightPusher(rank, world_size)            # held by the rank's ActorWorker across syncs
    report = pusher.push(plan, export)                 # collective: every rank, same plan; rank 0 reports

| transport | engines | data flow | file |
|---|---|---|---|
| ``objects`` | local engines (Ray actors) | rank 0 -> Ray's object store -> engines | ``objects.py`` |
| ``disk`` | any | rank 0 -> safetensors on a shared path -> engines | ``disk.py`` |
| ``tensor`` | colocated SGLang | each GPU's rank -> CUDA-IPC handles -> the engine rank on that GPU | ``tensor.py`` |
| ``distributed`` | disaggregated SGLang | rank 0 -> one NCCL broadcast per bucket -> every engine rank | ``distributed.py`` |

``export(receivers)`` is the bridge's streaming export (``bridge.exporter.iter_hf_buckets``): every rank runs it
and exhausts it; ``tensor`` needs the buckets on every rank (each sends), the others on rank 0 only (it sends,
the other ranks only take part in the export).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from megatron_mmupt.bridge.exporter import Receivers
from megatron_mmupt.bridge.transports.disk import DiskSender
from megatron_mmupt.bridge.transports.distributed import DistributedSender
from megatron_mmupt.bridge.transports.objects import ObjectStoreSender
from megatron_mmupt.bridge.transports.plan import TRANSPORTS, SyncPlan, SyncReport
from megatron_mmupt.bridge.transports.stream import BucketStream, exhaust
from megatron_mmupt.bridge.transports.tensor import TensorSender
from megatron_mmupt.rollout.engine import WeightBucket
from megatron_mmupt.rollout.weights import read_checkpoint_spec

__all__ = ["TRANSPORTS", "SyncPlan", "SyncReport", "WeightPusher"]

Export = Callable[[Receivers], Iterable[WeightBucket]]
Sender = ObjectStoreSender | DiskSender | TensorSender | DistributedSender


class WeightPusher:
    def __init__(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size
        self._sender: Sender | None = None
        self._sender_key: tuple = ()
        self._specs: dict[str, dict[str, tuple[int, ...]]] = {}

    def push(self, plan: SyncPlan, export: Export) -> SyncReport | None:
        """Send the actor's current weights as ``plan`` says; rank 0 returns the report, the others ``None``."""
        start = time.perf_counter()
        sender = self._sender_for(plan)
        receivers = Receivers.ALL if plan.transport == "tensor" else Receivers.FIRST
        receives = receivers is Receivers.ALL or self.rank == 0
        spec = self._spec(plan.checkpoint) if receives and plan.checkpoint else None
        stream = BucketStream(export(receivers), plan, spec, fingerprint=self.rank == 0)
        if not receives:  # only rank 0 sends: the others take part in the export's collectives
            exhaust(stream)
            return None
        sender.push(stream, plan.targets, version=plan.version)
        if self.rank != 0:
            return None
        seconds = time.perf_counter() - start
        return SyncReport(stream.num_bytes, stream.num_buckets, stream.num_tensors, seconds, stream.fingerprints)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
        self._sender, self._sender_key = None, ()

    def _sender_for(self, plan: SyncPlan) -> Sender:
        key = (plan.transport, plan.feeders, plan.disk_dir, plan.backend, plan.group_name)
        if self._sender is not None and key == self._sender_key:
            return self._sender
        self.close()
        if plan.transport == "objects":
            self._sender = ObjectStoreSender()
        elif plan.transport == "disk":
            self._sender = DiskSender(plan.disk_dir)
        elif plan.transport == "tensor":
            self._sender = TensorSender(plan.feeders, self.rank)
        elif plan.transport == "distributed":
            self._sender = DistributedSender(backend=plan.backend, group_name=plan.group_name)
        else:
            raise ValueError(f"unknown weight transport {plan.transport!r}; choose from: {', '.join(TRANSPORTS)}")
        self._sender_key = key
        return self._sender

    def _spec(self, checkpoint: str) -> dict[str, tuple[int, ...]]:
        if checkpoint not in self._specs:
            self._specs[checkpoint] = read_checkpoint_spec(checkpoint)
        return self._specs[checkpoint]
