"""The logical device of each storage (``CPU``, a cuda ordinal, or unknown), and the mixing rule of CUDA ops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef

CPU = -1
"""The tag of a logically-CPU storage; a cuda storage's tag is its ordinal (>= 0). Untagged means unknown."""


_TABLE: dict[int, tuple[StorageWeakRef, int]] = {}
_SWEEP_EVERY = 20_000
_inserts = 0


def _storage(tensor: torch.Tensor) -> torch.UntypedStorage | None:
    try:
        return tensor.untyped_storage()
    except (RuntimeError, NotImplementedError, TypeError):
        return None  # no storage (sparse, meta): unknown


def storage_key(tensor: torch.Tensor) -> int | None:
    storage = _storage(tensor)
    return None if storage is None else storage._cdata


def input_keys(tensors: list[torch.Tensor], where: str) -> list[int | None]:
    """The storage keys of an op's inputs; an input whose storage was freed (offloaded: resized to 0 bytes)
    raises, where the CPU would read out of bounds and a GPU would read freed memory."""
    keys = []
    for tensor in tensors:
        storage = _storage(tensor)
        if storage is not None and storage.nbytes() == 0 and tensor.numel() > 0:
            raise RuntimeError(
                f"a tensor of shape {tuple(tensor.shape)} whose storage holds 0 bytes (offloaded? call onload() "
                f"first) entered {where} (device-strict CPU shim)"
            )
        keys.append(None if storage is None else storage._cdata)
    return keys


def tag_at(key: int | None) -> int | None:
    # No expiry check: the entry's weak reference keeps the StorageImpl's address from being reused, so a live
    # storage at ``key`` is the one that was tagged.
    entry = _TABLE.get(key)
    return None if entry is None else entry[1]


def tag_of(tensor: torch.Tensor) -> int | None:
    """``CPU``, a cuda ordinal, or ``None`` (unknown) for ``tensor``'s storage. Call outside the mode."""
    return tag_at(storage_key(tensor))


def set_tag(tensor: torch.Tensor, tag: int) -> None:
    global _inserts
    storage = _storage(tensor)
    if storage is None:
        return
    _TABLE[storage._cdata] = (StorageWeakRef(storage), tag)
    _inserts += 1
    if _inserts % _SWEEP_EVERY == 0:
        for key in [k for k, (ref, _) in _TABLE.items() if ref.expired()]:
            del _TABLE[key]


def device_name(tag: int | None) -> str:
    return "cpu" if tag in (CPU, None) else f"cuda:{tag}"


def mismatch_error(a: int | None, b: int | None, where: str) -> RuntimeError:
    return RuntimeError(
        f"Expected all tensors to be on the same device, but found at least two devices, {device_name(a)} and {device_name(b)}! "
        f"(device-strict CPU shim, in {where})"
    )


def tensors_in(values: Any) -> Iterator[torch.Tensor]:
    """Tensors among ``values``, and inside lists/tuples one level down (``torch.cat([a, b])``)."""
    for value in values:
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, torch.Tensor):
                    yield item


def common_device(tensors: list[torch.Tensor], keys: list[int | None], where: str) -> int | None:
    """The op's device: raises on a mix (CPU 0-dim tensors join anything); ``None`` when nothing is tagged."""
    cuda: int | None = None
    cpu = cpu_scalar = False
    for tensor, key in zip(tensors, keys, strict=True):
        tag = tag_at(key)
        if tag is None:
            continue
        if tag == CPU:
            if tensor.dim() > 0:
                cpu = True
            else:
                cpu_scalar = True
        elif cuda is None:
            cuda = tag
        elif cuda != tag:
            raise mismatch_error(cuda, tag, where)
    if cuda is not None and cpu:
        raise mismatch_error(cuda, CPU, where)
    if cuda is not None:
        return cuda
    return CPU if cpu or cpu_scalar else None


def tensor_outputs(result: Any) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (list, tuple)):
        return [r for r in result if isinstance(r, torch.Tensor)]
    return []


def tag_new_outputs(result: Any, tag: int | None, input_keys: list[int | None]) -> None:
    """Tag the outputs that got a storage of their own; views and in-place results keep their input's tag."""
    if tag is None:
        return
    for out in tensor_outputs(result):
        if storage_key(out) not in input_keys:
            set_tag(out, tag)


def is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)
