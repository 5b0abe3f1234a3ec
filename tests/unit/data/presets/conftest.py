"""Fixtures for the preset tests: a ``DatasetSource`` factory with a private Arrow cache (PNGs: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from megatron_mmupt.data.source import ColumnsConfig, DatasetSource


@pytest.fixture
def source(tmp_path: Path) -> Callable[..., DatasetSource]:
    """``source(path, preset, columns={...}, **config)`` -> a built ``DatasetSource`` caching under tmp_path."""

    def build(path: Path | str, preset: str, columns: dict[str, str] | None = None, **config) -> DatasetSource:
        cfg = DatasetSource.Config(
            path=str(path),
            preset=preset,
            columns=ColumnsConfig(**(columns or {})),
            cache_dir=str(tmp_path / "hf-cache"),
            **config,
        )
        return cfg.build()

    return build
