"""Benchmark: prompts per second of the data pipeline (decode, resize, patchify, render, tokenize, rope ids).

Two image regimes, each with 0 workers (in-process, the baseline), 1 and 2 worker processes, same rows:

* ``demo``: the demo task's 112x112 images at the demo processor's own bounds (64 patches per image);
* ``photo``: 640x480 images (PNG with noise, as dataset photos and plots are not flat) at the MM-UPT
  reference bounds 512^2 .. 1536*28^2 pixels (about 1,200 patches per image).

Throughput is measured over ``--batches`` batches after the first one (which includes starting the
workers); the first batch's latency is reported separately.

    python tools/bench_data.py [--batches 6] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.processing import load_processors
from megatron_mmupt.demo.task import DemoDataset
from megatron_mmupt.utils.table import format_table


def photo_rows(path: Path, num_rows: int) -> Path:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(num_rows):
        pixels = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        images.append([{"bytes": buffer.getvalue(), "path": None}])
    questions = ["<image>What is the value of the largest bar in the chart?"] * num_rows
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(num_rows)], "question": questions, "images": images}), path)
    return path


def measure(
    rows: Path, processors, workers: int, batch_size: int, batches: int, *overrides: str
) -> tuple[float, float]:
    config = apply_overrides(
        PromptPipeline.Config(),
        [f"source.path={rows}", f"sampler.batch_size={batch_size}", f"num_workers={workers}", *overrides],
    )
    pipeline = config.build(processors=processors)
    start = time.perf_counter()
    pipeline.next_batch()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        pipeline.next_batch()
    return first, batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    num_rows = (args.batches + 1) * args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        DemoDataset.Config(num_train=num_rows, num_test=1).build().write(demo)
        processors = load_processors(demo / "processor")
        regimes = {
            "demo 112x112, own bounds": (demo / "train.parquet", ()),
            "photo 640x480, reference bounds": (
                photo_rows(Path(tmp) / "photos.parquet", num_rows),
                ("images.min_pixels=262144", "images.max_pixels=1204224"),
            ),
        }
        table = []
        for name, (rows, overrides) in regimes.items():
            baseline = None
            for workers in (0, 1, 2):
                first, rate = measure(rows, processors, workers, args.batch_size, args.batches, *overrides)
                baseline = baseline or rate
                table.append((name, workers, f"{first:.2f}", f"{rate:.1f}", f"{rate / baseline:.2f}x"))
    print(
        format_table(
            ("images", "workers", "first batch (s)", "prompts/s", "vs 0 workers"),
            table,
            title=f"data pipeline, batches of {args.batch_size}, {args.batches} batches timed",
        )
    )


if __name__ == "__main__":
    main()
