"""``torch.distributed`` collectives that refuse a logically-CPU tensor over a group that is NCCL on GPUs."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
import torch.distributed as dist

from megatron_mmupt.actor.megatron.device_strict.tags import CPU, tag_of, tensors_in

HOST_GROUPS: list[Any] = []
"""Groups created with ``backend="gloo"``: CPU tensors are legal there on GPU clusters too."""
_COLLECTIVES = (
    "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor",
    "reduce", "send", "recv", "isend", "irecv", "all_to_all", "all_to_all_single", "gather", "scatter",
    "_all_gather_base", "_reduce_scatter_base",
)  # fmt: skip
_ORIGINALS: dict[str, Any] = {}


def check_collective(name: str, tensors: list[torch.Tensor], group: Any) -> None:
    """Raise as NCCL would when a logically-CPU tensor enters a collective over a (GPU) group."""
    if any(group is g for g in HOST_GROUPS):
        return
    for tensor in tensors:
        if tag_of(tensor) == CPU:
            raise RuntimeError(
                f"No backend type associated with device type cpu (device-strict CPU shim: torch.distributed.{name} "
                f"got a CPU tensor of shape {tuple(tensor.shape)} over a process group that is NCCL on GPUs)"
            )


def _checked(name: str, fn: Any) -> Any:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind_partial(*args, **kwargs).arguments
        check_collective(name, list(tensors_in(bound.values())), bound.get("group"))
        return fn(*args, **kwargs)

    return wrapper


def _checked_batch(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(p2p_op_list: list, *args: Any, **kwargs: Any) -> Any:
        for op in p2p_op_list:
            check_collective(getattr(op.op, "__name__", "p2p"), [op.tensor], op.group)
        return fn(p2p_op_list, *args, **kwargs)

    return wrapper


def _new_group(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        group = fn(*args, **kwargs)
        backend = kwargs.get("backend", args[2] if len(args) > 2 else None)
        if backend is not None and str(backend).lower() == "gloo":
            HOST_GROUPS.append(group)
        return group

    return wrapper


def patch_distributed() -> None:
    from torch.distributed import distributed_c10d as c10d

    if _ORIGINALS:
        return
    for name in _COLLECTIVES:
        original = getattr(dist, name, None)
        if original is None:
            continue
        _ORIGINALS[name] = original
        setattr(dist, name, _checked(name, original))
    # P2POp accepts only c10d's own isend/irecv: make the checked ones those.
    c10d.isend, c10d.irecv = dist.isend, dist.irecv
    _ORIGINALS["batch_isend_irecv"] = dist.batch_isend_irecv
    dist.batch_isend_irecv = _checked_batch(dist.batch_isend_irecv)
    _ORIGINALS["new_group"] = dist.new_group
    dist.new_group = _new_group(dist.new_group)
    try:  # Megatron's DDP buffer captured these at import time
        from megatron.core.distributed import param_and_grad_buffer as buffers
    except ImportError:
        return
    for attr in ("dist_all_gather_func", "dist_reduce_scatter_func"):
        original = getattr(buffers, attr, None)
        if original is not None:
            setattr(buffers, attr, getattr(dist, original.__name__, original))
