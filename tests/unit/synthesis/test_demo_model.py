"""Both synthesis methods end to end with the shipped demo model, which learned question writing in its
warm-up: it writes questions about the demo images that the filters can keep."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.synthesis import FilterConfig, SynthesisConfig, WrittenQuestion, parse_question, synthesize

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parents[3] / "examples" / "demo_base_model"


@pytest.mark.parametrize("method", ["in-context", "direct"])
def test_the_demo_model_writes_questions_the_filters_keep(shipped_demo_dir, tmp_path, method):
    config = SynthesisConfig(
        method=method, model_path=str(SHIPPED), output_dir=str(tmp_path / "out"),
        seed_data=DatasetSource.Config(path=str(shipped_demo_dir / "train.parquet"), max_rows=12),
        questions_per_image=2, max_new_tokens=64, filters=FilterConfig(k=4, max_new_tokens=48, min_share=0.5),
    )  # fmt: skip
    summary = synthesize(config)

    assert summary["written"] == 24
    assert sum(summary["rejected"].values()) + summary["kept"] == 24
    assert summary["rejected"]["unparseable"] + summary["rejected"]["truncated"] <= 6  # it writes questions
    assert summary["kept"] >= 4
    if method == "direct":  # no example to copy from; a copy is the image's own question written again
        assert summary["rejected"]["copy"] < 12
    rows = pq.read_table(tmp_path / "out" / "train.parquet").to_pylist()
    assert (
        len(rows) == summary["kept"] == len(DatasetSource.Config(path=str(tmp_path / "out" / "train.parquet")).build())
    )
    for row in rows:
        assert row["question"].startswith("<image>") and row["answer"] is None and row["method"] == method
        assert isinstance(parse_question(row["question"].removeprefix("<image>")), WrittenQuestion)
        assert row["consensus_share"] >= 0.5 and row["seed_id"].startswith("demo-train-")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["kept"] == summary["kept"]
