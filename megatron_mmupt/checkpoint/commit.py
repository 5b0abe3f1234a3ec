"""The commit of a save (rank 0): rename the complete staging folder into place, then move ``latest`` to it.

Crash safety, step by step (``latest`` always names a complete folder):

1. the staging folder is complete (its manifest was written last) but hidden: ``latest`` names the previous one;
2. ``rename(staging, step_N)`` is atomic: before it nothing changed, after it ``step_N`` is complete;
3. ``latest`` is replaced atomically: it names the previous checkpoint or ``step_N``.

A crash between 2 and 3 leaves ``step_N`` complete but unnamed: a resume starts from the previous checkpoint,
and the next save's retention treats ``step_N`` like any other complete folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from megatron_mmupt.checkpoint.layout import is_complete, parse_step, temporary_name
from megatron_mmupt.checkpoint.pointer import point_latest_at, read_latest
from megatron_mmupt.utils.atomic import fsync_dir


def publish(staging: Path, final: Path) -> None:
    """Make the complete folder ``staging`` the checkpoint ``final`` (``step_N``) and the one ``latest`` names.

    ``final`` may exist already: a run that resumed from an earlier step saves the same step again. The old copy
    is moved to a temporary name first; if ``latest`` named it, ``latest`` names the (complete) staging folder
    meanwhile, so it never names a missing folder.
    """
    step = parse_step(final.name)
    if step is None or staging.parent != final.parent:
        raise ValueError(f"cannot publish {staging} as {final}: not a step_N sibling")
    if not is_complete(staging):
        raise ValueError(f"{staging} is not a complete checkpoint (no manifest); refusing to publish it")
    directory, replaced = final.parent, None
    if final.exists():
        pointed = read_latest(directory)
        if pointed is not None and pointed.name == final.name:
            point_latest_at(staging)
        replaced = directory / temporary_name(step)
        final.rename(replaced)
    staging.rename(final)
    fsync_dir(directory)
    point_latest_at(final)
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
