import pytest

from megatron_mmupt.data.processing import load_processors


@pytest.fixture(scope="session")
def processors(demo_dir):
    return load_processors(demo_dir / "processor")
