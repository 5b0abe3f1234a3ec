"""The actor's GPU memory handed to colocated rollout engines while they generate, and taken back to train.

    offload = DeviceOffload()
    offload.offload(StateGroup.OPTIMIZER, optimizer_tensors)       # copied to host memory, device storage freed
    offload.offload(StateGroup.GRADS, grad_buffers, keep=False)     # freed, zeros on the way back
    offload.onload()                                               # every group back, bit for bit

How: by storage, as Megatron's own ``offload_grad_buffers`` and FSDP do. Each distinct storage of a group is
copied into a host buffer (pinned when it is a GPU's, so the copies run at full speed; the buffer is kept for
the next round instead of being allocated again) and resized to zero bytes. Every tensor that views it (a
parameter inside DDP's contiguous buffer, ``main_grad``, an optimizer shard) stays a valid object: resizing back
and copying in restores them all at once, without touching any module, hook or optimizer reference. Gradient
buffers are not copied (they are zeroed before every step anyway), only freed and zeroed again.

A storage belongs to the first group that offloads it: the fp32 master weights of an fp32 model are the model's
own parameters, so ``OPTIMIZER`` skips storages the ``WEIGHTS`` group holds. Nothing offloaded may be read until
``onload``: ``MegatronActor`` refuses to compute while anything is off its device.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

import torch


class StateGroup(enum.StrEnum):
    WEIGHTS = "weights"
    """Model parameters and buffers (the policy's and the KL reference's)."""
    GRADS = "grads"
    """DDP's gradient buffers (``main_grad``): freed, not copied."""
    OPTIMIZER = "optimizer"
    """Adam's moments and the fp32 master weights (when they are not the model's own)."""


@dataclasses.dataclass
class _Saved:
    storages: list[torch.UntypedStorage]
    sizes: list[int]
    host: list[torch.Tensor | None]


class DeviceOffload:
    def __init__(self) -> None:
        self._saved: dict[StateGroup, _Saved] = {}
        self._host_buffers: dict[tuple[StateGroup, int], torch.Tensor] = {}

    @property
    def offloaded(self) -> tuple[StateGroup, ...]:
        return tuple(g for g in StateGroup if g in self._saved)

    def offload(self, group: StateGroup, tensors: Iterable[torch.Tensor], *, keep: bool = True) -> int:
        """Free the device storages of ``tensors`` (copied to host first when ``keep``); returns bytes freed."""
        if group in self._saved:
            return 0
        storages = self._distinct_storages(tensors)
        saved = _Saved(storages, [s.nbytes() for s in storages], [])
        for i, storage in enumerate(storages):
            host = self._host_buffer(group, i, storage) if keep else None
            if host is not None:
                host.copy_(_bytes_of(storage), non_blocking=True)
            saved.host.append(host)
        _synchronize(storages)
        for storage in storages:
            storage.resize_(0)
        self._saved[group] = saved
        _empty_cache(storages)
        return sum(saved.sizes)

    def onload(self, groups: Iterable[StateGroup] | None = None) -> int:
        """Give the storages of ``groups`` (default: all) their memory and contents back; returns bytes."""
        restored = 0
        for group in list(groups or self.offloaded):
            saved = self._saved.pop(group, None)
            if saved is None:
                continue
            for storage, size, host in zip(saved.storages, saved.sizes, saved.host, strict=True):
                storage.resize_(size)
                if host is None:
                    _bytes_of(storage).zero_()
                else:
                    _bytes_of(storage).copy_(host, non_blocking=True)
                restored += size
            _synchronize(saved.storages)
        return restored

    def _distinct_storages(self, tensors: Iterable[torch.Tensor]) -> list[torch.UntypedStorage]:
        owned = {s._cdata for saved in self._saved.values() for s in saved.storages}
        seen: set[int] = set()
        storages = []
        for tensor in tensors:
            storage = tensor.untyped_storage()
            key = storage._cdata  # the StorageImpl: shared by every view, stable across resizes
            if key in seen or key in owned or storage.nbytes() == 0:
                continue
            seen.add(key)
            storages.append(storage)
        return storages

    def _host_buffer(self, group: StateGroup, index: int, storage: torch.UntypedStorage) -> torch.Tensor:
        key = (group, index)
        buffer = self._host_buffers.get(key)
        if buffer is None or buffer.numel() != storage.nbytes():
            pin = storage.device.type == "cuda"
            buffer = torch.empty(storage.nbytes(), dtype=torch.uint8, pin_memory=pin)
            self._host_buffers[key] = buffer
        return buffer


def _bytes_of(storage: torch.UntypedStorage) -> torch.Tensor:
    """A uint8 tensor over the whole of ``storage`` (no copy)."""
    return torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage)


def _synchronize(storages: list[torch.UntypedStorage]) -> None:
    if any(s.device.type == "cuda" for s in storages):
        torch.cuda.synchronize()


def _empty_cache(storages: list[torch.UntypedStorage]) -> None:
    # Freed blocks stay in PyTorch's caching allocator until emptied; the engine is another process.
    if any(s.device.type == "cuda" for s in storages):
        torch.cuda.empty_cache()
