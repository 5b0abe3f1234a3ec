"""Names on disk and what makes a checkpoint folder complete.

A checkpoint directory holds::

    step_000004/                  # complete checkpoints, one per saved step
    step_000006/
    latest                        # pointer: the name of the newest complete checkpoint ("step_000006\\n")
    .step_000008.tmp-3f2a9c1b0d4e # a save in progress, or left by a crashed one (hidden, deleted by later saves)
    hf/step_000006/               # Hugging Face exports, when on (never pruned)

A folder is complete when its manifest (``checkpoint.json``) is there and parses: it is written last, after
Megatron's ``metadata.json`` (itself the last file of ``dist_checkpointing.save``), the trainer state and the
per-rank RNG files, and before the folder is renamed from its temporary name.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from pathlib import Path

from megatron_mmupt.utils.atomic import atomic_write_text

FORMAT = "megatron_mmupt.train_checkpoint/1"
MANIFEST_FILE = "checkpoint.json"
"""Written last inside the folder: its presence marks a complete checkpoint."""
TRAINER_STATE_FILE = "trainer_state.pt"
RNG_DIR = "rng"
MEGATRON_METADATA_FILE = "metadata.json"
"""Megatron's own marker, written at the end of ``dist_checkpointing.save``."""
STEP_DIGITS = 6

_STEP = re.compile(r"^step_(\d+)$")
_TEMPORARY = re.compile(r"^\.step_\d+\.tmp-[0-9a-z]+$")


def step_name(step: int) -> str:
    """``step_00000N`` (wider beyond a million steps; parsing does not depend on the width)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return f"step_{step:0{STEP_DIGITS}d}"


def parse_step(name: str) -> int | None:
    """The step of a checkpoint folder name, ``None`` for anything else (temporaries included)."""
    match = _STEP.match(name)
    return int(match.group(1)) if match else None


def temporary_name(step: int) -> str:
    """A fresh hidden sibling name for staging (or deleting) the checkpoint of ``step``."""
    return f".{step_name(step)}.tmp-{uuid.uuid4().hex[:12]}"


def is_temporary(name: str) -> bool:
    return bool(_TEMPORARY.match(name))


def rng_file(rank: int) -> str:
    return f"{RNG_DIR}/rank_{rank:05d}.pt"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Manifest:
    """What a complete checkpoint records about itself (``checkpoint.json``)."""

    step: int
    world_size: int
    """Ranks that saved it: one RNG file each."""
    tensor_degree: int
    pipeline_degree: int
    data_degree: int
    format: str = FORMAT

    def write(self, folder: str | Path) -> None:
        atomic_write_text(Path(folder) / MANIFEST_FILE, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: str | Path) -> Manifest | None:
        """The manifest of ``folder``; ``None`` when absent, unreadable or of another format (incomplete)."""
        try:
            fields = json.loads((Path(folder) / MANIFEST_FILE).read_text())
            manifest = cls(**fields)
        except (OSError, ValueError, TypeError):
            return None
        return manifest if manifest.format == FORMAT else None


def is_complete(folder: str | Path) -> bool:
    folder = Path(folder)
    return (
        Manifest.read(folder) is not None
        and (folder / MEGATRON_METADATA_FILE).is_file()
        and (folder / TRAINER_STATE_FILE).is_file()
    )


def complete_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every complete ``step_*`` folder of ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(parse_step(p.name), p) for p in directory.iterdir() if p.is_dir()]
    return sorted((step, p) for step, p in found if step is not None and is_complete(p))


def temporaries(directory: str | Path) -> list[Path]:
    """Hidden staging / deletion folders of ``directory`` (in progress, or left behind by a crash)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if is_temporary(p.name))
