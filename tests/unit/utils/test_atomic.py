import os

import pytest

from megatron_mmupt.utils.atomic import atomic_write_text, atomic_writer


def test_writes_and_replaces(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("precious\n")
    with pytest.raises(RuntimeError), atomic_writer(path) as f:
        f.write("half a line")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_binary_mode_and_bad_mode(tmp_path):
    with atomic_writer(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError, match="modes"), atomic_writer(tmp_path / "x", "a"):
        pass
