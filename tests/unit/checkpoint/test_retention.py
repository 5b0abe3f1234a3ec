import pytest

from megatron_mmupt.checkpoint.layout import temporary_name
from megatron_mmupt.checkpoint.pointer import LATEST_FILE, point_latest_at
from megatron_mmupt.checkpoint.retention import prune, remove_temporaries


def names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_keeps_the_newest_k_and_removes_temporaries(tmp_path, make_checkpoint):
    for step in (1, 2, 3, 4):
        make_checkpoint(step)
    point_latest_at(tmp_path / "step_000004")
    (tmp_path / temporary_name(5)).mkdir()  # a crashed save
    (tmp_path / "hf" / "step_000002").mkdir(parents=True)  # exports are not checkpoints
    (tmp_path / "step_000000").mkdir()  # incomplete: not ours to judge
    removed = prune(tmp_path, keep_last=2)
    assert sorted(p.name for p in removed if not p.name.startswith(".")) == ["step_000001", "step_000002"]
    assert names(tmp_path) == ["hf", "latest", "step_000000", "step_000003", "step_000004"]
    assert prune(tmp_path, keep_last=2) == []


def test_never_deletes_what_latest_names(tmp_path, make_checkpoint):
    for step in (1, 2, 3):
        make_checkpoint(step)
    point_latest_at(tmp_path / "step_000001")  # e.g. a resume from an older checkpoint
    prune(tmp_path, keep_last=1)
    assert names(tmp_path) == ["latest", "step_000001", "step_000003"]

    staging = tmp_path / temporary_name(3)
    staging.mkdir()
    (tmp_path / LATEST_FILE).write_text(staging.name + "\n")  # mid-way through re-saving the latest step
    assert remove_temporaries(tmp_path) == [] and staging.exists()


def test_keep_last_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="keep_last must be >= 1"):
        prune(tmp_path, keep_last=0)
