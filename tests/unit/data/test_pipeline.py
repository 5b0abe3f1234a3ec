import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.utils.errors import InputError


def build(demo_dir, processors, *overrides, path=None):
    config = apply_overrides(
        PromptPipeline.Config(),
        [f"source.path={path or demo_dir / 'train.parquet'}", "sampler.batch_size=8", "num_workers=0", *overrides],
    )
    return config.build(processors=processors)


def summary(batch):
    return [(p.id, p.input_ids.tolist()) for p in batch]


def test_batches_are_full_valid_and_seeded(demo_dir, processors):
    first = build(demo_dir, processors).next_batch()
    assert len(first) == 8 and first.step_index == 0 and first.epoch == 0
    assert all(p.num_images == 1 and p.answer is not None for p in first)
    assert summary(first) == summary(build(demo_dir, processors).next_batch())
    assert summary(first) != summary(build(demo_dir, processors, "sampler.seed=2").next_batch())


def test_worker_processes_give_the_same_stream(demo_dir, processors):
    local = build(demo_dir, processors)
    workers = build(demo_dir, processors, "num_workers=2")
    for _ in range(3):
        a, b = local.next_batch(), workers.next_batch()
        assert summary(a) == summary(b)
        for p, q in zip(a, b, strict=True):
            torch.testing.assert_close(p.pixel_values, q.pixel_values)
            torch.testing.assert_close(p.position_ids, q.position_ids)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_exactly(demo_dir, processors, workers):
    pipeline = build(demo_dir, processors, f"num_workers={workers}")
    pipeline.next_batch()
    state = json.loads(json.dumps(pipeline.state_dict()))  # must survive a checkpoint as JSON
    expected = [summary(pipeline.next_batch()) for _ in range(7)]  # crosses into epoch 1 (48 rows / 8)
    resumed = build(demo_dir, processors, f"num_workers={workers}")
    resumed.load_state_dict(state)
    assert [summary(resumed.next_batch()) for _ in range(7)] == expected
    assert resumed.batches_produced == pipeline.batches_produced == 8


def test_one_epoch_visits_every_row_once(demo_dir, processors):
    pipeline = build(demo_dir, processors, "num_epochs=1", "sampler.batch_size=10", "sampler.drop_last=false")
    batches = list(pipeline)
    assert [len(b) for b in batches] == [10, 10, 10, 10, 8]
    assert len({p.id for b in batches for p in b}) == 48
    dropped = list(build(demo_dir, processors, "num_epochs=1", "sampler.batch_size=10"))
    assert [len(b) for b in dropped] == [10, 10, 10, 10]


def write_rows(path, rows):
    table = pa.table({"id": [r[0] for r in rows], "question": [r[1] for r in rows], "images": [r[2] for r in rows]})
    pq.write_table(table, path)
    return path


def image_list(ok=True):
    buffer = io.BytesIO()
    Image.new("RGB", (112, 112), "white").save(buffer, format="PNG")
    return [{"bytes": buffer.getvalue() if ok else b"broken", "path": None}]


def test_bad_rows_are_skipped_counted_and_reported(demo_dir, processors, tmp_path):
    rows = [(f"r{i}", "<image>How many?", image_list()) for i in range(10)]
    rows[2] = ("r2", "<image>broken", image_list(ok=False))
    rows[5] = ("r5", "   ", image_list())
    path = write_rows(tmp_path / "rows.parquet", rows)
    report = tmp_path / "run" / "bad_rows.jsonl"
    pipeline = build(demo_dir, processors, "sampler.batch_size=4", "sampler.shuffle=false", f"bad_row_report={report}",
                     path=path)  # fmt: skip
    batches = [pipeline.next_batch(), pipeline.next_batch()]
    assert [p.id for b in batches for p in b] == ["r0", "r1", "r3", "r4", "r6", "r7", "r8", "r9"]
    assert dict(pipeline.bad_rows.counts) == {"bad_image": 1, "empty_question": 1}
    listed = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["row"], r["reason"]) for r in listed] == [("r2", "bad_image"), ("r5", "empty_question")]


def test_too_many_bad_rows_stop_the_run(demo_dir, processors, tmp_path):
    rows = [(f"r{i}", "<image>x", image_list(ok=i % 2 == 0)) for i in range(300)]
    path = write_rows(tmp_path / "half_bad.parquet", rows)
    pipeline = build(demo_dir, processors, "max_bad_fraction=0.2", "sampler.batch_size=200", path=path)
    with pytest.raises(
        InputError, match=r"of 1\d\d rows are unusable \(bad_image: \d+\), more than max_bad_fraction=0.2"
    ):
        pipeline.next_batch()


def test_an_epoch_without_any_good_row_stops_the_run(demo_dir, processors, tmp_path):
    path = write_rows(tmp_path / "all_bad.parquet", [(f"r{i}", "<image>x", image_list(ok=False)) for i in range(5)])
    with pytest.raises(InputError, match="epoch 0 produced no usable prompt"):
        build(demo_dir, processors, path=path).next_batch()


def test_collate_pads_left_and_concatenates_images(demo_dir, processors):
    batch = build(demo_dir, processors).next_batch()
    inputs = batch.collate(processors.pad_token_id)
    lengths = [p.num_tokens for p in batch]
    assert inputs["input_ids"].shape == (8, max(lengths))
    assert inputs["attention_mask"].sum(dim=1).tolist() == lengths
    shortest = lengths.index(min(lengths))
    pad = max(lengths) - lengths[shortest]
    assert (inputs["position_ids"][:, shortest, :pad] == 0).all()
    assert inputs["input_ids"][shortest, :pad].eq(processors.pad_token_id).all()
    assert inputs["pixel_values"].shape[0] == sum(p.pixel_values.shape[0] for p in batch)
    assert inputs["image_grid_thw"].shape == (8, 3)
    right = batch.collate(processors.pad_token_id, padding_side="right")
    torch.testing.assert_close(right["input_ids"][shortest, : lengths[shortest]], batch.prompts[shortest].input_ids)
