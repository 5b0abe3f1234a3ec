"""Retention (rank 0, after a commit): keep the newest K complete checkpoints, drop stale temporaries.

Never deleted: the folder ``latest`` names (even when older than the newest K), incomplete ``step_*`` folders
(not ours to judge: only a hand edit makes one), anything else in the directory (the ``hf/`` exports).
A folder is renamed to a hidden temporary name before it is deleted, so a crash during a deletion leaves a
temporary (removed by the next save), never a half-deleted ``step_N``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from megatron_mmupt.checkpoint.layout import complete_checkpoints, temporaries, temporary_name
from megatron_mmupt.checkpoint.pointer import read_latest


def prune(directory: str | Path, keep_last: int) -> list[Path]:
    """Delete the complete checkpoints older than the newest ``keep_last`` and every temporary; return them.

    Must not run while a save is staging into ``directory`` (its staging folder is a temporary).
    """
    if keep_last < 1:
        raise ValueError(f"keep_last must be >= 1, got {keep_last}")
    pointed = read_latest(directory)
    protected = {pointed.name} if pointed is not None else set()
    doomed = [(step, f) for step, f in complete_checkpoints(directory)[:-keep_last] if f.name not in protected]
    for step, folder in doomed:
        hidden = folder.with_name(temporary_name(step))
        folder.rename(hidden)
        shutil.rmtree(hidden)
    return [folder for _, folder in doomed] + remove_temporaries(directory)


def remove_temporaries(directory: str | Path) -> list[Path]:
    """Delete every temporary folder of ``directory`` except one ``latest`` names; return them.

    Must not run while a save is staging into ``directory`` (its staging folder is a temporary).
    """
    pointed = read_latest(directory)
    stale = [folder for folder in temporaries(directory) if pointed is None or folder.name != pointed.name]
    for folder in stale:
        shutil.rmtree(folder)
    return stale
