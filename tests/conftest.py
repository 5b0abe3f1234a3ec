"""Session fixtures shared by the stages' tests: the demo task's data and the tiny demo model.

Both are generated (seconds) rather than shipped: no hub is reachable where the tests run.
"""

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from megatron_mmupt.demo.task import DemoDataset, TokenizerConfig
from megatron_mmupt.models.tiny_qwen2_5_vl import create_model_folder


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A small demo dataset (train/test parquet + processor folder + dataset_info.json)."""
    out = tmp_path_factory.mktemp("demo") / "data"
    DemoDataset.Config(num_train=48, num_test=16, tokenizer=TokenizerConfig(corpus_rows=300)).build().write(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(demo_dir, tmp_path_factory):
    """A randomly initialized tiny Qwen2.5-VL saved as a Hugging Face folder with its processor files."""
    return create_model_folder(tmp_path_factory.mktemp("model") / "tiny-qwen2.5-vl", demo_dir / "processor", seed=0)


@pytest.fixture(scope="session")
def shipped_demo_dir(tmp_path_factory):
    """A few rows of the demo task with the default tokenizer: the data the shipped base model was made for
    (``examples/demo_base_model``), so tests can run that model on it."""
    out = tmp_path_factory.mktemp("shipped-demo") / "data"
    DemoDataset.Config(num_train=24, num_test=8).build().write(out)
    return out


def png_bytes(color: str = "red", size: int = 28) -> bytes:
    """A one-colour PNG (28 px: one merged vision token of Qwen2.5-VL)."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png() -> Callable[..., bytes]:
    """``png(color="red")`` -> the bytes of a small PNG."""
    return png_bytes


@pytest.fixture
def write_png(tmp_path: Path) -> Callable[[str], Path]:
    """``write_png("images/1.png")`` writes a small PNG under ``tmp_path`` and returns its absolute path."""

    def write(relative: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes())
        return path

    return write
