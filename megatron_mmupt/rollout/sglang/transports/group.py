"""The weight-update process group: the trainer's sending rank and every engine's TP ranks, outside both worlds.

    group = join_update_group(backend="nccl", address="10.0.0.1", port=29600, world_size=1 + 8, rank=0,
                              group_name="mmupt-weights")
    broadcast(group, flat_bucket)          # rank 0 sends, engine ranks 1..8 receive

The trainer's ranks already form a default process group, and each SGLang server has its own, so this third
group is built directly from a TCP store rendezvous instead of through ``init_process_group``. The store layout
is the one SGLang's ``init_custom_process_group`` uses on the server side (``rendezvous(tcp://address:port)``,
then a ``PrefixStore`` named after the group, then torch's process-group helper), which is what lets the two
sides meet: rank 0 (the trainer) hosts the store. ``megatron-mmupt serve`` joins with the same function
(gloo on CPU), so the whole protocol is exercised without GPUs.
"""

from __future__ import annotations

import datetime
import inspect
from typing import Any

import torch

DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)


def join_update_group(
    *,
    backend: str,
    address: str,
    port: int,
    world_size: int,
    rank: int,
    group_name: str,
    timeout: datetime.timedelta = DEFAULT_TIMEOUT,
) -> Any:
    """Rendezvous at ``tcp://address:port`` and return the group (blocks until all ``world_size`` joined)."""
    from torch.distributed.distributed_c10d import Backend, PrefixStore, _new_process_group_helper, _world, rendezvous

    store, rank, world_size = next(rendezvous(f"tcp://{address}:{port}", rank, world_size, timeout=timeout))
    store.set_timeout(timeout)
    store = PrefixStore(group_name, store)
    parameters = inspect.signature(_new_process_group_helper).parameters
    options = "backend_options" if "backend_options" in parameters else "pg_options"  # renamed in torch 2.6
    group, _ = _new_process_group_helper(
        world_size, rank, [], Backend(backend), store, group_name=group_name, timeout=timeout, **{options: None}
    )
    _world.pg_group_ranks[group] = {i: i for i in range(world_size)}  # group rank == rank in this group
    return group


def check_group_name_free(group_name: str) -> None:
    """torch keeps one group per name in a process; a second join under a taken name fails after the rendezvous."""
    from torch.distributed.distributed_c10d import _world

    if group_name in _world.pg_names.values():
        raise ValueError(
            f"a weight-update group named {group_name!r} is already open in this process: close the transport "
            f"that opened it (SGLangClient.close()) or give this one another weight_transport.group_name"
        )


def broadcast(group: Any, tensor: torch.Tensor, *, src: int = 0) -> None:
    """``tensor`` from ``src`` to every rank of ``group`` (in place on the receivers)."""
    torch.distributed.broadcast(tensor, src=src, group=group)


def destroy_update_group(group: Any) -> None:
    torch.distributed.destroy_process_group(group)
