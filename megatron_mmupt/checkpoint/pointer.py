"""The ``latest`` pointer: which checkpoint a resume starts from.

The pointer file holds one folder name, relative to the checkpoint directory, so the directory can move. It is
replaced atomically (temporary file, fsync, ``os.replace``, fsync of the directory) and only ever names a
complete folder: readers see the previous checkpoint or the new one, never a half-written pointer.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from megatron_mmupt.checkpoint.layout import complete_checkpoints, is_complete
from megatron_mmupt.utils.atomic import atomic_write_text
from megatron_mmupt.utils.errors import InputError

LATEST_FILE = "latest"


def point_latest_at(folder: str | Path) -> None:
    """Make ``latest`` (beside ``folder``) name ``folder``, which must be complete."""
    folder = Path(folder)
    if not is_complete(folder):
        raise ValueError(f"{folder} is not a complete checkpoint; `latest` must never point at one")
    atomic_write_text(folder.parent / LATEST_FILE, folder.name + "\n")


def read_latest(directory: str | Path) -> Path | None:
    """The folder ``latest`` names (existing or not); ``None`` without a usable pointer file."""
    try:
        name = (Path(directory) / LATEST_FILE).read_text().strip()
    except OSError:
        return None
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    return Path(directory) / name


def find_latest(directory: str | Path) -> Path | None:
    """The checkpoint to resume from: what ``latest`` names when complete, else the newest complete folder.

    Temporaries and incomplete folders are never returned. The fallback covers a directory whose pointer was
    lost or edited by hand; a crash inside a save never needs it (the pointer is updated after the rename).
    """
    pointed = read_latest(directory)
    if pointed is not None and is_complete(pointed):
        return pointed
    complete = complete_checkpoints(directory)
    if not complete:
        return None
    newest = complete[-1][1]
    if (Path(directory) / LATEST_FILE).exists():
        warnings.warn(
            f"{Path(directory) / LATEST_FILE} does not name a complete checkpoint; using the newest, {newest.name}",
            stacklevel=2,
        )
    return newest


def resolve_checkpoint(path: str | Path) -> Path:
    """The complete checkpoint ``path`` names: a checkpoint folder, or a directory's ``find_latest``.

    ``InputError`` naming ``path`` and the fix when there is none (resume was asked for, nothing to resume).
    """
    path = Path(path)
    if is_complete(path):
        return path
    latest = find_latest(path)
    if latest is not None:
        return latest
    if not path.exists():
        raise InputError(f"cannot resume: {path} does not exist; check checkpoint.directory, or start without resume")
    raise InputError(
        f"cannot resume: {path} holds no complete checkpoint (no step_N folder with a checkpoint.json); "
        "point checkpoint.directory at a run's checkpoints, or start without resume"
    )
