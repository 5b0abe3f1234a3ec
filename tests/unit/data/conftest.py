import pytest

from megatron_mmupt.data.demo_task import DemoDataset, TokenizerConfig
from megatron_mmupt.data.processing import load_processors


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A small demo dataset (train/test parquet + processor folder), generated once per test session."""
    out = tmp_path_factory.mktemp("demo") / "data"
    DemoDataset.Config(num_train=48, num_test=16, tokenizer=TokenizerConfig(corpus_rows=300)).build().write(out)
    return out


@pytest.fixture(scope="session")
def processors(demo_dir):
    return load_processors(demo_dir / "processor")
