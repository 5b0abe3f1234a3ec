"""Write a synthesized dataset: a folder ``train`` reads directly, all or nothing.

Layout of ``out/``:

* ``train.parquet``: (when a question was kept) one row per kept question in the generic preset's schema (``id``, ``question`` with
  ``<image>`` placeholders, ``images`` as PNG/JPEG bytes, ``answer`` empty: the set is unlabeled,
  ``choices``), plus ``seed_id``, ``method``, ``consensus_answer`` and ``consensus_share`` (the model's own
  majority answer and its share: diagnostics, never read by training);
* ``summary.json``: the config, counts per filter, timings; ``summary.md``: the same as a table.

Everything is written into a temporary sibling folder that then replaces ``out``; an existing ``out`` is
replaced only when it holds a previous synthesis output.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from megatron_mmupt.data.presets.generic import generic_features
from megatron_mmupt.data.types import ImageRef
from megatron_mmupt.utils import atomic
from megatron_mmupt.utils.atomic import replace_directory

GENERATOR = "megatron_mmupt.synthesis"
"""Marks ``summary.json`` as ours: a folder carrying it may be replaced."""
OUTPUT_ENTRIES = frozenset({"train.parquet", "summary.json", "summary.md"})


def features() -> Any:
    """The generic schema (what ``train`` reads) plus the synthesis's own columns."""
    from datasets import Value

    return generic_features(
        seed_id=Value("string"), method=Value("string"), consensus_answer=Value("string"),
        consensus_share=Value("float32"),
    )  # fmt: skip


def image_cell(ref: ImageRef) -> dict[str, Any]:
    """An image as the ``datasets.Image`` feature stores it (encoded bytes), whatever form the seed had."""
    if isinstance(ref, dict) and ref.get("bytes"):
        return {"bytes": ref["bytes"], "path": None}
    if isinstance(ref, (bytes, bytearray)):
        return {"bytes": bytes(ref), "path": None}
    if isinstance(ref, (str, Path, dict)):
        path = Path(ref if not isinstance(ref, dict) else ref["path"])
        return {"bytes": path.read_bytes(), "path": None}
    buffer = io.BytesIO()  # a PIL image
    ref.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def write_output(out: str | Path, rows: list[dict[str, Any]], summary: dict[str, Any], table: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".staging", dir=out.parent))
    # The schema carries datasets' metadata (``huggingface`` key): load_dataset restores the Image feature.
    # No rows, no file: a dataset of zero rows cannot be read back, and the summary says why it is empty.
    if rows:
        pq.write_table(pa.Table.from_pylist(rows, schema=features().arrow_schema), staging / "train.parquet")
    (staging / "summary.json").write_text(json.dumps({"generator": GENERATOR} | summary, indent=2) + "\n")
    (staging / "summary.md").write_text(table + "\n")
    replace_directory(staging, out)
    return out


def check_replaceable(out: Path) -> None:
    """Refuse to replace anything but a missing or empty folder or a previous synthesis output."""
    atomic.check_replaceable(
        out, entries=OUTPUT_ENTRIES, marker="summary.json", generator=GENERATOR, what="a synthesis output"
    )
