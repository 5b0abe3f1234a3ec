"""``<run_dir>/metrics.jsonl``: the run's own record of every logged step, one JSON object per line.

Each line is ``{"step": int, "wall_time": float (Unix seconds), "<metric>": value, ...}``; a line is written and
flushed per ``append``, so a crash loses at most the line being written. Values that JSON cannot represent
(NaN, +-inf) are written as ``null`` and read back as NaN. Several lines may share a step (e.g. training
metrics, then evaluation metrics of the same step); :func:`read_metrics` returns the lines, :func:`merge_steps`
one dict per step.

Resume: opening the file for a run resumed at step ``S`` keeps the lines of steps ``<= S`` and drops the rest
(they belong to steps that the resumed run will redo), so the file always describes the run as it happened.
A fresh run (``S = 0``) starts an empty file. A torn last line (crash during a write) is dropped.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from megatron_mmupt.utils.atomic import atomic_write_text

RECORD_KEYS = ("step", "wall_time")
"""Keys every line has; metric names must differ from them."""


class MetricsFile:
    """Append-only writer of ``metrics.jsonl`` (see the module docstring)."""

    def __init__(self, path: str | Path, *, resume_step: int = 0):
        """Open ``path`` for a run that starts after step ``resume_step`` (0: a fresh run)."""
        if resume_step < 0:
            raise ValueError(f"resume_step={resume_step} must be >= 0")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = _lines_through(self.path, resume_step) if resume_step > 0 else []
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        self.last_step: int | None = json.loads(kept[-1])["step"] if kept else None
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")

    def append(self, step: int, metrics: Mapping[str, float | int], *, wall_time: float | None = None) -> dict:
        """Write one line for ``step`` (>= the last written step) and flush it; returns the record written."""
        if self._file is None:
            raise RuntimeError(f"{self.path} is closed")
        if self.last_step is not None and step < self.last_step:
            raise ValueError(f"step {step} is before the last logged step {self.last_step}: steps must not go back")
        clash = set(RECORD_KEYS) & metrics.keys()
        if clash:
            raise ValueError(f"metric names {sorted(clash)} are reserved for the record itself")
        record = {"step": step, "wall_time": time.time() if wall_time is None else wall_time}
        record.update({k: _json_number(v) for k, v in metrics.items()})
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()
        self.last_step = step
        return record

    def close(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None


def read_metrics(path: str | Path) -> list[dict[str, float | int]]:
    """Every complete line of a ``metrics.jsonl``, in file order, ``null`` values as NaN."""
    return [_decode(json.loads(line)) for line in _complete_lines(Path(path))]


def merge_steps(records: list[dict[str, float | int]]) -> list[dict[str, float | int]]:
    """One dict per step (later lines of a step override earlier ones), sorted by step."""
    by_step: dict[int, dict[str, float | int]] = {}
    for record in records:
        by_step.setdefault(int(record["step"]), {}).update(record)
    return [by_step[s] for s in sorted(by_step)]


def _json_number(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _decode(record: dict) -> dict[str, float | int]:
    return {k: float("nan") if v is None else v for k, v in record.items()}


def _complete_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    complete = []
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            if number != len(lines):
                raise ValueError(f"{path}:{number} is not a JSON line; the metrics file is corrupt") from None
            warnings.warn(f"{path}: dropping a torn last line (the run stopped while writing it)", stacklevel=3)
            continue
        complete.append(line)
    return complete


def _lines_through(path: Path, step: int) -> list[str]:
    return [line for line in _complete_lines(path) if json.loads(line)["step"] <= step]
