import pytest

from megatron_mmupt.checkpoint.layout import (
    MEGATRON_METADATA_FILE,
    TRAINER_STATE_FILE,
    Manifest,
    step_name,
    temporary_name,
)
from megatron_mmupt.checkpoint.state_file import write_state_file


def write_complete(folder, step):
    """The files that make a folder a complete checkpoint (no tensors: the layout logic never reads them)."""
    folder.mkdir(parents=True)
    (folder / MEGATRON_METADATA_FILE).write_text('{"sharded_backend": "torch_dist"}')
    write_state_file(folder / TRAINER_STATE_FILE, {"step": step})
    Manifest(step=step, world_size=2, tensor_degree=2, pipeline_degree=1, data_degree=1).write(folder)
    return folder


@pytest.fixture
def make_checkpoint(tmp_path):
    """``make_checkpoint(step)`` -> a complete ``step_N`` folder in ``tmp_path``."""
    return lambda step: write_complete(tmp_path / step_name(step), step)


@pytest.fixture
def make_staging(tmp_path):
    """``make_staging(step)`` -> a complete folder under a fresh temporary name (a save about to commit)."""
    return lambda step: write_complete(tmp_path / temporary_name(step), step)
