"""State files of a checkpoint: the caller's trainer state (step, prompt-pipeline state, metrics history, ...)
and each rank's RNG states.

Stored with ``torch.save`` and read back with ``torch.load(weights_only=True)``: a checkpoint never unpickles
arbitrary objects. ``check_plain`` refuses, at save time, anything that would not load back that way, naming
where it sits, so a run cannot write a checkpoint it will fail to resume from.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.utils.atomic import atomic_writer

_SCALARS = (str, int, float, bool, type(None))
_MAPPINGS = (dict, OrderedDict)
_SEQUENCES = (list, tuple)


def check_plain(value: Any, where: str = "trainer_state") -> None:
    """Raise ``TypeError`` unless ``value`` is made of dicts (str/int keys), lists, tuples, scalars and tensors.

    Exact types: subclasses (``defaultdict``, ``StrEnum`` members, ``numpy.float64``) pickle as their class,
    which ``weights_only`` loading refuses.
    """
    kind = type(value)
    if kind in _SCALARS or isinstance(value, torch.Tensor):
        return
    if kind in _MAPPINGS:
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; keys must be str or int")
            check_plain(item, f"{where}[{key!r}]")
        return
    if kind in _SEQUENCES:
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} is a {kind.__name__}, which a checkpoint cannot store safely; convert it to plain dicts, "
        "lists, numbers, strings or tensors (e.g. dict(defaultdict), float(numpy_scalar), torch.from_numpy(array))"
    )


def write_state_file(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (checked, and verified to load back) atomically to ``path``."""
    check_plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)  # what ``check_plain`` does not foresee fails here, not at resume
    with atomic_writer(path, "wb") as f:
        f.write(buffer.getvalue())


def read_state_file(path: str | Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)
