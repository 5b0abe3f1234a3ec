"""Fixtures for the preset tests: tiny PNGs and a ``DatasetSource`` factory with a private Arrow cache."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from megatron_mmupt.data.source import ColumnsConfig, DatasetSource


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png() -> Callable[[str], bytes]:
    """``png(color)`` -> the bytes of a 2x2 PNG."""
    return png_bytes


@pytest.fixture
def write_png(tmp_path: Path) -> Callable[[str], Path]:
    """``write_png("images/1.png")`` writes a PNG under ``tmp_path`` and returns its absolute path."""

    def write(relative: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes())
        return path

    return write


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
