from pathlib import Path

import pytest

from megatron_mmupt.checkpoint.commit import publish
from megatron_mmupt.checkpoint.layout import TRAINER_STATE_FILE, temporary_name
from megatron_mmupt.checkpoint.pointer import find_latest, point_latest_at, read_latest
from megatron_mmupt.checkpoint.state_file import read_state_file


def test_publish_renames_then_moves_latest(tmp_path, make_checkpoint, make_staging):
    point_latest_at(make_checkpoint(1))
    staging = make_staging(2)
    publish(staging, tmp_path / "step_000002")
    assert not staging.exists() and read_latest(tmp_path).name == "step_000002"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_000001", "step_000002"]


def test_publish_refuses_an_incomplete_folder_and_keeps_latest(tmp_path, make_checkpoint, make_staging):
    point_latest_at(make_checkpoint(1))
    staging = tmp_path / temporary_name(2)
    staging.mkdir()
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        publish(staging, tmp_path / "step_000002")
    with pytest.raises(ValueError, match="not a step_N sibling"):
        publish(make_staging(3), tmp_path / "sub" / "step_000003")
    assert read_latest(tmp_path).name == "step_000001"


def test_saving_the_latest_step_again_never_leaves_latest_dangling(
    tmp_path, make_checkpoint, make_staging, monkeypatch
):
    """A resumed run saves its resume step again: the crash between the two renames still finds a checkpoint."""
    point_latest_at(make_checkpoint(4))
    staging = make_staging(4)
    (staging / "new").write_text("")
    rename = Path.rename

    def crash_on_second_rename(self, target):
        if self == staging:
            raise OSError("simulated crash between the renames")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_second_rename)
    with pytest.raises(OSError, match="simulated crash"):
        publish(staging, tmp_path / "step_000004")
    assert find_latest(tmp_path) == staging  # the new copy, complete, under its temporary name
    assert read_state_file(staging / TRAINER_STATE_FILE) == {"step": 4}
    monkeypatch.setattr(Path, "rename", rename)

    staging = make_staging(4)
    (staging / "newer").write_text("")
    publish(staging, tmp_path / "step_000004")
    assert find_latest(tmp_path) == tmp_path / "step_000004" and (tmp_path / "step_000004" / "newer").exists()
