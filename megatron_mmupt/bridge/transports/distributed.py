"""Disaggregated SGLang engines: actor rank 0 broadcasts each bucket to every engine rank in one group.

Data flow: rank 0 receives the full buckets (``Receivers.FIRST``: TP gather, PP send to rank 0), packs each into
one buffer and broadcasts it once in the weight-update group (rank 0 + the TP ranks of every engine:
``rank_offset`` 1, 1 + tp_0, ...; NCCL between GPUs, gloo on CPU) while every server is told the bucket's names,
dtypes and shapes (``/update_weights_from_distributed``, ``load_format="flattened_bucket"``), all inside one
update session per engine (``calls.update_session``: SGLang refuses the buckets outside one). The group is
opened at the first sync (``/init_weights_update_group`` while rank 0 hosts the rendezvous on its node's
address) and opened again when the engines change (a restarted server has a new address). GPU path (NCCL, real
SGLang) not run here; on CPU the same code runs with gloo against ``megatron-mmupt serve``.
"""

from __future__ import annotations

import logging
from typing import Any

from megatron_mmupt.bridge.transports.stream import BucketStream
from megatron_mmupt.parallel.rank_env import master_address
from megatron_mmupt.rollout.sglang.transports.calls import (
    ServerEndpoint,
    close_update_group,
    open_update_group,
    update_from_distributed,
    update_session,
    with_last,
)

logger = logging.getLogger(__name__)


class DistributedSender:
    def __init__(self, *, backend: str, group_name: str) -> None:
        self.backend, self.group_name = backend, group_name
        self.group: Any = None
        self.endpoints: tuple[ServerEndpoint, ...] = ()

    def push(self, stream: BucketStream, targets: tuple, *, version: int) -> None:
        """On rank 0 (the only sender)."""
        if any(not isinstance(t, ServerEndpoint) for t in targets):
            raise ValueError("the distributed weight transport reaches SGLang servers only (rollout.engine=sglang)")
        self._connect(tuple(targets))
        with update_session(self.endpoints):  # every engine: begin before the first bucket, end after the last
            for index, bucket, last in with_last(stream):
                update_from_distributed(self.endpoints, self.group, bucket, group_name=self.group_name, index=index,
                                        last=last, version=version)  # fmt: skip

    def _connect(self, endpoints: tuple[ServerEndpoint, ...]) -> None:
        if self.group is not None and endpoints == self.endpoints:
            return
        self.close()
        address, port = master_address()
        self.group = open_update_group(endpoints, backend=self.backend, address=address, port=port,
                                       group_name=self.group_name)  # fmt: skip
        self.endpoints = endpoints

    def close(self) -> None:
        if self.group is None:
            return
        try:
            close_update_group(self.endpoints, self.group, group_name=self.group_name)
        except Exception as e:  # an engine that died cannot leave the group; ours goes anyway
            logger.warning("closing the weight-update group %r: %s", self.group_name, e)
        self.group, self.endpoints = None, ()
