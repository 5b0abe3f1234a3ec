from pathlib import Path

import pytest

from megatron_mmupt.checkpoint.config import CheckpointConfig, hf_export_dir
from megatron_mmupt.config.configurable import ConfigError


def test_defaults_save_at_the_end_only_into_the_run_directory():
    config = CheckpointConfig()
    assert [s for s in range(1, 11) if config.should_save(s, last_step=10)] == [10]
    assert not any(config.should_export_hf(s, last_step=10) for s in range(1, 11))
    assert config.resolve_directory("runs/x") == Path("runs/x/checkpoints")
    assert CheckpointConfig(directory="/ckpt").resolve_directory("runs/x") == Path("/ckpt")


def test_every_n_steps_and_always_the_last():
    config = CheckpointConfig(save_every=4, hf_export_every=5)
    assert [s for s in range(1, 11) if config.should_save(s, last_step=10)] == [4, 8, 10]
    assert [s for s in range(1, 11) if config.should_export_hf(s, last_step=10)] == [5, 10]
    assert hf_export_dir("runs/x/checkpoints", 10) == Path("runs/x/checkpoints/hf/step_000010")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("keep_last", 0, "keep_last=0 is out of range"),
        ("save_every", -1, "save_every=-1"),
        ("hf_export_every", -2, "hf_export_every=-2"),
    ],
)
def test_invalid_values_are_refused(field, value, message):
    with pytest.raises(ConfigError, match=message):
        CheckpointConfig(**{field: value})
