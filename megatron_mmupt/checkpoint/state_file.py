"""State files of a checkpoint: the caller's trainer state (step, prompt-pipeline state, metrics history, ...)
and each rank's RNG states.

Stored with ``torch.save`` and read back with ``torch.load(weights_only=True)``: a checkpoint never unpickles
arbitrary objects. ``check_plain`` refuses, at save time, anything that would not load back that way, naming
where it sits, so a run cannot write a checkpoint it will fail to resume from.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.utils.atomic import atomic_writer

_LEAVES = (str, int, float, bool, type(None), torch.Tensor)


def check_plain(value: Any, where: str = "trainer_state") -> None:
    """Raise ``TypeError`` unless ``value`` is made of dicts (str/int keys), lists, tuples, scalars and tensors."""
    if isinstance(value, _LEAVES):
        return
    if isinstance(value, Mapping):
        if not isinstance(value, dict):
            raise TypeError(f"{where} is a {type(value).__name__}; store a plain dict")
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; keys must be str or int")
            check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}, which a checkpoint cannot store safely; "
        "convert it to plain dicts, lists, numbers, strings or tensors (e.g. ndarray -> torch.from_numpy)"
    )


def write_state_file(path: str | Path, state: dict[str, Any]) -> None:
    check_plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_writer(path, "wb") as f:
        f.write(buffer.getvalue())


def read_state_file(path: str | Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)
