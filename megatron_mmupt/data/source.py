"""``DatasetSource``: one dataset on disk (or the hub) and the preset that maps its rows to ``Example``s.

    source = DatasetSource.Config(path="/data/mathvista/testmini.parquet", preset="mathvista").build()
    len(source)         # rows (after max_rows)
    source.example(3)   # Example, or BadRow naming the column and the fix

The rows are read on first use (``load``) and stay on disk, images undecoded; ``example(i)`` reads row
``i`` and maps it, so workers can share one source. Formats, hub names and image folders: ``loading.py``;
presets: ``presets/``; both are documented in ``docs/data.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import datasets

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, Configurable, check_choice, check_positive
from megatron_mmupt.data.loading import FORMATS, read_dataset
from megatron_mmupt.data.presets import PRESETS, PresetContext
from megatron_mmupt.data.types import BadRow, BadRowReason, Example

CONFIG_KEY = "data.source"
"""Where ``DatasetSource.Config`` sits in the run config; error messages name overrides under it."""


@dataclasses.dataclass(kw_only=True, slots=True)
class ColumnsConfig(ConfigNode):
    """Column overrides: read these columns instead of the preset's (``None`` keeps the preset's)."""

    question: str | None = None
    """Column with the question text."""
    images: str | None = None
    """Column with the image(s): an Image struct, bytes, a path, or a list of them."""
    answer: str | None = None
    """Column with the ground truth (diagnostics only)."""
    choices: str | None = None
    """Column with the options (a list; for we_math the option string)."""
    id: str | None = None
    """Column with the row id."""

    def __post_init__(self) -> None:
        for role, column in self.roles().items():
            if not column.strip():
                raise ConfigError(f"columns.{role} is empty; give a column name or none")

    def roles(self) -> dict[str, str]:
        """The overrides that are set, by role."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


class DatasetSource(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        path: str = ""
        """A .parquet/.jsonl/.json/.arrow file, a glob of them, a folder of them, a save_to_disk folder, or a
        hub name ``owner/name`` (read only when no local path of that name exists)."""
        split: str = "train"
        """Split of a DatasetDict folder or hub dataset (``testmini`` for the benchmarks); a label for files."""
        preset: str = "generic"
        """How columns map to ``Example`` (see ``docs/data.md``, "Dataset presets")."""
        format: Literal["auto", "parquet", "jsonl", "json", "arrow", "save_to_disk"] = "auto"
        """``auto``: from the file extension, or ``save_to_disk`` for a folder it wrote."""
        columns: ColumnsConfig = dataclasses.field(default_factory=ColumnsConfig)
        """Read other columns for the question, images, answer, choices or id than the preset's."""
        image_root: str | None = None
        """Folder that relative image paths are relative to; default: the dataset file's folder."""
        max_rows: int | None = None
        """Keep only the first ``max_rows`` rows (smoke tests, quick evaluations)."""
        name: str | None = None
        """Name in default row ids (``<name>-<row index>``); default: the file, folder or hub dataset name."""
        cache_dir: str | None = None
        """Where ``datasets`` keeps its Arrow cache; default: ``HF_DATASETS_CACHE``."""
        metadata_columns: tuple[str, ...] = ()
        """Columns copied verbatim into ``Example.metadata`` besides the preset's own (evaluation breakdowns of
        data in the generic schema, e.g. ``question_type,difficulty``); a row without one of them is a bad row."""

        def __post_init__(self) -> None:
            check_choice("preset", self.preset, PRESETS.names())
            check_choice("format", self.format, FORMATS)
            if self.max_rows is not None:
                check_positive("max_rows", self.max_rows)
            if self.name is not None and not self.name.strip():
                raise ConfigError("name is empty; give a name or none")
            self.metadata_columns = tuple(self.metadata_columns)
            if any(not column.strip() for column in self.metadata_columns):
                raise ConfigError(f"metadata_columns={list(self.metadata_columns)} names an empty column")

    def __init__(self, config: Config, *, config_key: str = CONFIG_KEY) -> None:
        """``config_key``: where this config sits in the caller's config (``eval.source``), for error messages."""
        if not config.path.strip():
            raise ConfigError(f"{config_key}.path is empty; set it to a dataset file, folder or hub name")
        self.config = config
        self.config_key = config_key
        self.preset = PRESETS.get(config.preset)
        self._rows: tuple[datasets.Dataset, PresetContext] | None = None

    def load(self) -> datasets.Dataset:
        """The rows (read once, then cached): images undecoded, at most ``max_rows`` of them."""
        return self._loaded()[0]

    def __len__(self) -> int:
        return len(self.load())

    def example(self, index: int) -> Example:
        """Row ``index`` as an ``Example``; ``BadRow`` (MISSING_COLUMN, EMPTY_QUESTION, BAD_VALUE, BAD_IMAGE)."""
        dataset, context = self._loaded()
        if not 0 <= index < len(dataset):
            raise IndexError(f"row {index} is out of range for {len(dataset)} rows")
        row = dataset[index]
        example = self.preset(row, index, context)
        if not self.config.metadata_columns:
            return example
        extra = _metadata_cells(row, example.id, self.config.metadata_columns, f"{self.config_key}.metadata_columns")
        return dataclasses.replace(example, metadata={**example.metadata, **extra})

    def _loaded(self) -> tuple[datasets.Dataset, PresetContext]:
        if self._rows is None:
            cfg = self.config
            loaded = read_dataset(
                cfg.path, split=cfg.split, fmt=cfg.format, cache_dir=cfg.cache_dir, key=self.config_key
            )
            dataset = loaded.dataset
            if cfg.max_rows is not None and cfg.max_rows < len(dataset):
                dataset = dataset.select(range(cfg.max_rows))
            context = PresetContext(
                source=cfg.name or _default_name(cfg.path),
                base_dir=Path(cfg.image_root).resolve() if cfg.image_root is not None else loaded.base_dir,
                columns=cfg.columns.roles(),
                config_key=self.config_key,
            )
            self._rows = (dataset, context)
        return self._rows


def _metadata_cells(row: Mapping[str, Any], row_id: str, columns: tuple[str, ...], key: str) -> dict[str, Any]:
    """The cells of ``columns``: scalars or lists of scalars (what a breakdown can group by)."""
    cells = {}
    for column in columns:
        if column not in row:
            have = ", ".join(map(str, row))
            detail = f"column {column!r} (from {key}) missing; the row has: {have}"
            raise BadRow(BadRowReason.MISSING_COLUMN, row_id, detail)
        value = row[column]
        items = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, (str, int, float, bool)) for v in items):
            detail = f"column {column!r} (from {key}): expected text, a number or a list of them, got {value!r}"
            raise BadRow(BadRowReason.BAD_VALUE, row_id, detail)
        cells[column] = value
    return cells


def _default_name(path: str) -> str:
    """``/data/mathvista/testmini.parquet`` -> ``testmini``; ``AI4Math/MathVista`` -> ``MathVista``."""
    stem = Path(path.rstrip("/")).name
    for suffix in (".parquet", ".jsonl", ".json", ".arrow"):
        stem = stem.removesuffix(suffix)
    return stem if stem and not any(c in stem for c in "*?[") else "dataset"
