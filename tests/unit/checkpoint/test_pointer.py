import pytest

from megatron_mmupt.checkpoint.layout import temporary_name
from megatron_mmupt.checkpoint.pointer import (
    LATEST_FILE,
    find_latest,
    point_latest_at,
    read_latest,
    resolve_checkpoint,
)
from megatron_mmupt.utils.errors import InputError


def test_the_pointer_names_a_complete_folder_relative_to_the_directory(tmp_path, make_checkpoint):
    folder = make_checkpoint(5)
    point_latest_at(folder)
    assert (tmp_path / LATEST_FILE).read_text() == "step_000005\n"
    assert read_latest(tmp_path) == folder and find_latest(tmp_path) == folder
    (tmp_path / "step_000006").mkdir()
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        point_latest_at(tmp_path / "step_000006")
    assert (tmp_path / LATEST_FILE).read_text() == "step_000005\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_000005", "step_000006"]  # no temp file


def test_the_pointer_wins_over_newer_folders(tmp_path, make_checkpoint):
    older, newer = make_checkpoint(1), make_checkpoint(2)  # e.g. a crash between the rename and the pointer
    point_latest_at(older)
    assert find_latest(tmp_path) == older
    assert newer.exists()


def test_without_a_usable_pointer_the_newest_complete_folder_is_used(tmp_path, make_checkpoint):
    make_checkpoint(1)
    newest = make_checkpoint(7)
    (tmp_path / "step_000009").mkdir()  # incomplete
    (tmp_path / temporary_name(10)).mkdir()
    assert find_latest(tmp_path) == newest  # no pointer file (a crash before the first pointer write)
    for content in ("step_000009\n", "../elsewhere\n", "", "step_000042\n"):
        (tmp_path / LATEST_FILE).write_text(content)
        with pytest.warns(UserWarning, match="does not name a complete checkpoint"):
            assert find_latest(tmp_path) == newest
    assert find_latest(tmp_path / "absent") is None


def test_resolve_takes_a_folder_or_a_directory_and_explains_when_there_is_nothing(tmp_path, make_checkpoint):
    folder = make_checkpoint(3)
    assert resolve_checkpoint(folder) == folder and resolve_checkpoint(tmp_path) == folder
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "step_000001").mkdir()
    with pytest.raises(InputError, match=r"cannot resume: .*empty holds no complete checkpoint.*checkpoint\.directory"):
        resolve_checkpoint(empty)
    with pytest.raises(InputError, match=r"cannot resume: .*nowhere does not exist; check checkpoint\.directory"):
        resolve_checkpoint(tmp_path / "nowhere")
