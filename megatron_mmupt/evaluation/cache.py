"""The per-question cache that makes an interrupted evaluation resume where it stopped.

One JSON Lines file per benchmark (``<output_dir>/cache/<benchmark>.jsonl``), one ``Responses`` record per
line, appended and fsynced after every generated batch. A record is found by its generation key
(``generation.generation_key``: model fingerprint, sampling, encoded prompt), never by the question id alone,
so a run with another model, other sampling or another prompt format does not reuse it: its questions are
generated afresh and the other records stay in the file, unused (counted in the report).

An interruption can leave at most the last line half-written; it is cut off when the file is next opened.
A damaged line anywhere else means the file was edited or mixed up: that is an error naming the line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from megatron_mmupt.evaluation.results import Responses
from megatron_mmupt.utils.errors import InputError


class ResponseCache:
    """Records by generation key; ``append`` makes new ones durable before it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[str, Responses] = {}
        self.torn_bytes = 0
        """Bytes of a half-written last line cut off on opening (an interrupted write)."""
        if self.path.exists():
            self._load()

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> Responses | None:
        return self.records.get(key)

    def append(self, items: Sequence[Responses]) -> None:
        """Add ``items`` (one line each), flushed and fsynced: a crash after this call loses none of them."""
        if not items:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in items)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
        for item in items:
            self.records[item.key] = item

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # an interrupted append: drop the fragment so the next line starts clean
            self.torn_bytes = len(data) - complete
            with open(self.path, "r+b") as f:
                f.truncate(complete)
                f.flush()
                os.fsync(f.fileno())
        for number, line in enumerate(data[:complete].decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = Responses.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(
                    f"{self.path}:{number}: not a cached evaluation record ({e}); delete the file to regenerate "
                    "its questions, or choose another output folder"
                ) from None
            self.records[item.key] = item
