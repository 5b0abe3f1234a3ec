"""Colocated SGLang engines: every GPU's actor rank hands the engine rank on the same GPU a handle to its copy.

Data flow, per bucket: every actor rank exports the bucket in full (``Receivers.ALL``: TP all-gather, PP
broadcast) onto its own GPU and packs it into one fresh buffer; the ranks on engine ``e``'s GPUs (its feeders,
in its TP-rank order: ``parallel/placement.py``) gather their serialized handles on the first of them (a gloo
group per engine), which posts them in one ``/update_weights_from_tensor`` (payload ``r`` for SGLang TP rank
``r``, mapped on its own GPU: no copy between GPUs), inside one update session that the first feeder opens before the
first bucket and closes after the last (``calls.update_session``); the feeders wait in a barrier until that call has
returned, since the server reads their memory until then. Actor ranks on no engine's GPU only export.

Needs sender and server on one host (CUDA IPC; shared memory on CPU). With CUDA tensors the handles carry the
GPU's UUID (SGLang's reduction patch), as each process numbers its visible GPUs differently. GPU path not run
here; on CPU the same code runs against ``megatron-mmupt serve``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.distributed as dist

from megatron_mmupt.bridge.transports.stream import BucketStream
from megatron_mmupt.rollout.sglang.transports.calls import ServerEndpoint, update_from_tensor, update_session, with_last
from megatron_mmupt.rollout.sglang.transports.payload import encode_bucket


class TensorSender:
    def __init__(self, feeders: tuple[tuple[int, ...], ...], rank: int) -> None:
        """Collective over the actor's world: every rank creates every engine's group, in the same order."""
        self.feeders, self.rank = feeders, rank
        self.groups = [dist.new_group(ranks=sorted(f), backend="gloo") for f in feeders]
        mine = [e for e, f in enumerate(feeders) if rank in f]
        self.engine: int | None = mine[0] if mine else None

    def push(self, stream: BucketStream, targets: tuple, *, version: int) -> None:
        if self.engine is None:
            for _ in stream:  # no engine on this rank's GPU: take part in the export only
                pass
            return
        target, feeders, group = targets[self.engine], self.feeders[self.engine], self.groups[self.engine]
        if not isinstance(target, ServerEndpoint) or target.tp_size != len(feeders):
            raise ValueError(f"engine {self.engine}: the tensor transport needs an SGLang server of {len(feeders)} "
                             f"TP ranks, got {target!r}")  # fmt: skip
        leader = feeders[0]
        # The leader holds the engine's update session around the whole sync (begin before the first bucket, end
        # after the last, also on failure); the other feeders only hand it their payloads.
        with update_session([target]) if self.rank == leader else contextlib.nullcontext():
            for index, bucket, last in with_last(stream):
                encoded = encode_bucket(bucket)
                payloads: list[Any] = [None] * len(feeders)
                dist.all_gather_object(payloads, (self.rank, encoded.payload), group=group)
                if self.rank == leader:
                    by_rank = dict(payloads)
                    ordered = [by_rank[r] for r in feeders]  # SGLang TP rank i reads payload i
                    update_from_tensor(target, ordered, encoded.load_format, index=index, last=last, version=version)
                dist.barrier(group=group)  # the server has copied every feeder's memory
                del encoded
                if torch.cuda.is_available():
                    torch.cuda.ipc_collect()

    def close(self) -> None:
        for group in self.groups:
            dist.destroy_process_group(group)
        self.groups = []
