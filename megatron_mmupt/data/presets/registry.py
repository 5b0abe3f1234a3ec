"""The preset registry: one function per dataset schema, all with the same signature.

A preset maps one row of a dataset (a plain ``dict``, images undecoded) to an ``Example``, or raises
``BadRow`` naming the column and the fix. Presets register themselves by name::

    @PRESETS.register("mathvista")
    def mathvista(row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example: ...

and ``DatasetSource`` looks them up by ``data.source.preset``; an unknown name fails listing the valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from megatron_mmupt.data.types import Example
from megatron_mmupt.utils.registry import Registry

ROLES = ("question", "images", "answer", "choices", "id")
"""The columns a user can point elsewhere with ``data.source.columns.<role>=<column>``."""


@dataclasses.dataclass(frozen=True, slots=True)
class PresetContext:
    """What a preset needs beyond the row: where the data lives and how the user renamed its columns."""

    source: str = "dataset"
    """Name of the dataset in default ids: a row without an id column becomes ``<source>-<row index>``."""
    base_dir: Path | None = None
    """Folder that relative image paths are resolved against (the dataset file's folder, or
    ``data.source.image_root``); ``None`` for a hub dataset, whose relative paths cannot be resolved."""
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Column overrides by role (see ``ROLES``): read ``columns["question"]`` instead of the preset's column."""
    config_key: str = "data.source"
    """Where the source is configured, so that error messages name the exact override to set."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown column roles {unknown}; the roles are: {', '.join(ROLES)}")


class PresetFn(Protocol):
    """Signature of every preset: ``row`` as the dataset yields it, its ``index``, and the context."""

    def __call__(self, row: Mapping[str, Any], index: int, ctx: PresetContext) -> Example: ...


PRESETS: Registry[PresetFn] = Registry("dataset preset", signature=PresetFn.__call__)
