"""Device-strict CPU shim: tensors keep a *logical* device, and mixing devices raises as it would on a GPU.

The plain shim (``cpu_shim``) maps every ``cuda`` to the CPU, so a tensor that never reached the accelerator and
one that did look the same, and device bugs pass every CPU test. In strict mode the same rewrite happens (all data
stays on the CPU), but each storage is tagged with the device it would live on, and an op whose tensors sit on
different logical devices raises ``RuntimeError: Expected all tensors to be on the same device ...`` like CUDA.

Enable: ``MEGATRON_MMUPT_DEVICE_STRICT=1`` before ``cpu_shim.apply()`` (the distributed test launcher sets it with
``run_distributed(..., device_strict=True)``), or ``with device_strict.active(): ...`` in a unit test.

Design
* The tag is per **storage** (a table ``StorageImpl address -> cuda index, or CPU``, each entry holding a
  ``StorageWeakRef`` so the address cannot be reused while tagged; dead entries are swept). Views, ``.data``,
  ``set_``, parameters swapped in by ``param.data = buffer_view`` (Megatron's DDP buffer, ``Module.to``/``_apply``)
  and storages resized by the offload all share their storage's tag, as memory on a real device does.
* Factories with ``device=`` (``"cuda"``, ``"cuda:1"``, ``torch.device("cuda", i)``, an ordinal), ``.to(...)``,
  ``.cuda()``, ``.type("torch.cuda...")`` tag their result; ``.cpu()`` / ``.to("cpu")`` of a logically-cuda tensor
  return a CPU-tagged copy. A change of logical device always yields a new storage (a clone where the CPU op would
  have returned its input), so the source keeps its tag. Every other op's new outputs inherit the device of its
  inputs; in-place results and views keep their storage's tag.
* Mixing rule (TensorIterator's): all tensor arguments on one device, except CPU 0-dim tensors and Python scalars,
  which may join a cuda op. ``copy_`` and basic-index assignment copy across devices (legal on GPUs); index tensors
  of ``__getitem__`` / ``__setitem__`` / ``index_put_`` may be on the CPU.
* Queries answer as on a GPU: ``.device`` is ``cuda:N``, ``.is_cuda``, ``.get_device()``, ``.type()`` gives
  ``torch.cuda.FloatTensor`` only for logically-cuda tensors (so Megatron's bf16 optimizer refuses CPU parameters
  as it does on a GPU); ``.numpy()`` and ``.pin_memory()`` of a cuda tensor raise; ``pin_memory=True`` is dropped.
* ``param.grad`` is filled by the C++ autograd engine, which no Python mode sees: on access, an untagged gradient
  takes its parameter's device (a GPU puts it there).
* Collectives: ``torch.distributed``'s tensor collectives (and Megatron's captured all-gather / reduce-scatter)
  refuse a logically-CPU tensor, as NCCL does, unless the group was created with ``backend="gloo"`` (Megatron's
  ``*_GLOO`` groups, which carry CPU tensors on GPU clusters too). The default group counts as NCCL.
* ``torch.cuda.current_device()`` returns the logical ordinal (``torch.cuda.set_device`` changes it).

Limits (what it cannot see)
* Tensors made outside the mode (before it was entered, by C++ internals such as autograd, by loaders that build
  tensors in C++) are *untagged*: they mix with anything and take the device of the op they enter. Everything the
  actor creates in Python after ``cpu_shim.apply()`` is tagged.
* Streams, events, pinned-memory speed and memory limits are not modelled; nothing checks that a non-blocking copy
  is synchronized. Object collectives (``broadcast_object_list`` ...) are not checked.
* The storage offload (``offload.py``) keeps each storage object, emptied, as the GPU does: a tensor whose storage
  holds 0 bytes raises when it enters an op (on this CPU it would read out of bounds, even crash), its host copies
  are logically CPU, and the restored storage keeps its cuda tag. Ops that bypass the generic path (``copy_``,
  indexing) do not run that check.

Layout: ``tags.py`` (the table and the mixing rule), ``mode.py`` (the ``TorchFunctionMode``), ``collectives.py``.

Cost (``tools/bench_device_strict.py``, 2026-12-07, this 2-core CPU, torch 2.13, one thread, best of repeats):
``a + b`` on 16 floats takes 1.3 us without a mode, 2.6 us under the plain shim's mode and 6.4 us in strict mode,
about 4 us per op on top of the plain shim (storage lookups and one tag insert); a ``Linear(64, 64)`` forward +
backward step takes about 100 us under the plain shim and 140 us strict. In the tiny-model actor tests the
difference is below the noise of a shared machine (imports and spawn dominate).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from megatron_mmupt.actor.megatron.device_strict.collectives import check_collective, patch_distributed
from megatron_mmupt.actor.megatron.device_strict.mode import DeviceStrictMode
from megatron_mmupt.actor.megatron.device_strict.tags import CPU, tag_of

__all__ = [
    "CPU",
    "ENV_VAR",
    "DeviceStrictMode",
    "active",
    "check_collective",
    "enable",
    "is_enabled",
    "requested",
    "tag_of",
]

ENV_VAR = "MEGATRON_MMUPT_DEVICE_STRICT"


def requested() -> bool:
    """Whether the environment asks for strict mode (``MEGATRON_MMUPT_DEVICE_STRICT=1``)."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


_MODE: DeviceStrictMode | None = None


def enable(index: int = 0) -> DeviceStrictMode:
    """Enter strict mode for the rest of the process (``cpu_shim.apply`` calls this when ``requested()``)."""
    global _MODE
    if _MODE is None:
        _MODE = DeviceStrictMode(index)
        torch.cuda.current_device = lambda: _MODE.index
        torch.cuda.set_device = _set_device
        patch_distributed()
        _MODE.__enter__()
    return _MODE


def is_enabled() -> bool:
    """Whether this process runs in strict mode (``enable`` has run)."""
    return _MODE is not None


def _set_device(device: Any) -> None:
    if _MODE is not None:
        _MODE.index = _MODE._logical(device)


@contextlib.contextmanager
def active(index: int = 0) -> Iterator[DeviceStrictMode]:
    """Strict mode inside a ``with`` block (unit tests); restores ``torch.cuda.current_device`` after."""
    saved = torch.cuda.current_device
    mode = DeviceStrictMode(index)
    torch.cuda.current_device = lambda: mode.index
    try:
        with mode:
            yield mode
    finally:
        torch.cuda.current_device = saved
