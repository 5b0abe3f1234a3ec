import json
import sys
from pathlib import Path

from megatron_mmupt.reward.answer_extraction import extract_answer
from megatron_mmupt.testing.responses import generate_rows

ROOT = Path(__file__).resolve().parents[3]


def test_generation_is_deterministic_and_shaped():
    first = list(generate_rows(20, 4, seed=3))
    assert first == list(generate_rows(20, 4, seed=3))
    assert first != list(generate_rows(20, 4, seed=4))
    assert len(first) == 80 and len({r.prompt_id for r in first}) == 20


def test_failure_modes_occur():
    rows = list(generate_rows(300, 10, seed=0))
    unanswered = sum(extract_answer(r.response).answer is None for r in rows)
    assert 0.03 < unanswered / len(rows) < 0.2
    assert any("\\fbox" in r.response for r in rows)
    assert any(r.choices for r in rows)


def test_shipped_sample_is_reproducible(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from make_sample_responses import DEFAULTS, SAMPLE, write_sample
    finally:
        sys.path.pop(0)
    regenerated = tmp_path / "sample.jsonl"
    write_sample(regenerated, **DEFAULTS)
    assert regenerated.read_text() == SAMPLE.read_text()
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    assert {"prompt_id", "question", "response", "answer"} <= set(first)
