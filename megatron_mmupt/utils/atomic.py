"""Atomic file (and folder) writes: a reader sees the old file or the new one, never a half-written one.

Write to a temporary file in the destination directory, flush and fsync it, then ``os.replace`` it
over the destination (atomic on POSIX within one file system). If anything fails before the
rename, the temporary file is removed and the destination is untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from megatron_mmupt.utils.errors import InputError


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Context manager yielding a file object whose content replaces ``path`` on clean exit."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_writer supports modes 'w' and 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; give the result a regular file's permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_writer(path) as f:
        f.write(text)


def fsync_dir(directory: str | Path) -> None:
    """Make renames and deletions inside ``directory`` durable (best effort: some file systems refuse it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_directory(staging: Path, out: Path) -> None:
    """Move ``staging`` to ``out``. A previous ``out`` is first renamed aside, then deleted: a reader sees
    the old folder, no folder for an instant, or the new folder; never a mixture."""
    if not out.exists():
        os.replace(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def check_replaceable(out: Path, *, entries: frozenset[str], marker: str, generator: str, what: str) -> None:
    """Refuse to replace ``out`` unless it is missing, empty, or a previous output of ``generator``: only
    ``entries`` in it, and a JSON ``marker`` file whose ``generator`` key names it. Nothing else is ever lost."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another --out")
    found = {p.name for p in out.iterdir()}
    if not found:
        return
    foreign = sorted(found - entries)
    if foreign:
        raise InputError(
            f"{out} is not empty and holds files this command did not write ({', '.join(foreign[:5])}); "
            "choose another --out or remove them"
        )
    try:
        ours = json.loads((out / marker).read_text()).get("generator") == generator
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise InputError(f"{out} is not empty and has no {marker} of {what}; choose another --out")
