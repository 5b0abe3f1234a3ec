"""Bookkeeping of skipped rows: counts per reason, a report file, and the stop rule.

A row that cannot become a prompt is skipped, counted, and listed (once) in ``bad_rows.jsonl`` with its
reason and detail, so a user can fix the data. The run stops with an error that lists the counts when
more than ``max_bad_fraction`` of the rows seen so far are bad (after ``min_rows_seen`` rows, so that the
first bad row does not stop a run), or when an epoch yields no usable row at all.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

from megatron_mmupt.data.types import BadRow
from megatron_mmupt.utils.atomic import atomic_writer
from megatron_mmupt.utils.errors import InputError


class BadRowLog:
    def __init__(self, max_fraction: float, report_path: str | Path | None = None, min_rows_seen: int = 100) -> None:
        self.max_fraction, self.min_rows_seen = max_fraction, min_rows_seen
        self.report_path = Path(report_path) if report_path else None
        self.counts: collections.Counter[str] = collections.Counter()
        self.rows_seen = 0
        self._listed: dict[str, BadRow] = {}  # row -> first failure; bad rows recur every epoch
        self._dirty = False

    def record_good(self) -> None:
        self.rows_seen += 1

    def record_bad(self, bad: BadRow) -> None:
        self.rows_seen += 1
        self.counts[bad.reason.value] += 1
        if bad.row not in self._listed:
            self._listed[bad.row] = bad
            self._dirty = True

    @property
    def num_bad(self) -> int:
        return sum(self.counts.values())

    def check(self) -> None:
        """Raise ``InputError`` when too many rows are bad (see the module docstring)."""
        if self.rows_seen >= self.min_rows_seen and self.num_bad > self.max_fraction * self.rows_seen:
            raise InputError(
                f"{self.num_bad} of {self.rows_seen} rows are unusable ({self.summary()}), more than "
                f"max_bad_fraction={self.max_fraction}; {self._where()}fix the data or raise data.max_bad_fraction"
            )

    def fail_empty_epoch(self, epoch: int) -> None:
        raise InputError(f"epoch {epoch} produced no usable prompt ({self.summary()}); {self._where()}fix the data")

    def summary(self) -> str:
        return ", ".join(f"{reason}: {count}" for reason, count in sorted(self.counts.items())) or "no bad rows"

    def write_report(self) -> None:
        """Rewrite the report (atomically) when new bad rows were listed since the last write."""
        if not (self._dirty and self.report_path):
            return
        with atomic_writer(self.report_path) as f:
            for bad in self._listed.values():
                f.write(json.dumps({"row": bad.row, "reason": bad.reason.value, "detail": bad.detail}) + "\n")
        self._dirty = False

    def _where(self) -> str:
        return f"see {self.report_path}; " if self.report_path else ""
