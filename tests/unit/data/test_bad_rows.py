import json

import pytest

from megatron_mmupt.data.bad_rows import BadRowLog
from megatron_mmupt.data.types import BadRow, BadRowReason
from megatron_mmupt.utils.errors import InputError


def bad(row, reason=BadRowReason.BAD_IMAGE):
    return BadRow(reason, row, "broken")


def test_counts_report_and_threshold(tmp_path):
    log = BadRowLog(max_fraction=0.25, report_path=tmp_path / "bad.jsonl", min_rows_seen=4)
    log.record_good()
    log.record_bad(bad("r1"))
    log.record_bad(bad("r1"))  # the same row again (next epoch): counted, listed once
    log.record_bad(bad("r2", BadRowReason.EMPTY_QUESTION))
    log.write_report()
    rows = [json.loads(line) for line in (tmp_path / "bad.jsonl").read_text().splitlines()]
    assert rows == [
        {"row": "r1", "reason": "bad_image", "detail": "broken"},
        {"row": "r2", "reason": "empty_question", "detail": "broken"},
    ]
    assert log.summary() == "bad_image: 2, empty_question: 1"
    with pytest.raises(InputError, match=r"3 of 4 rows are unusable .*bad\.jsonl"):
        log.check()


def test_no_stop_before_enough_rows():
    log = BadRowLog(max_fraction=0.1, min_rows_seen=100)
    log.record_bad(bad("r1"))
    log.check()  # one bad row of one seen: too early to judge
    with pytest.raises(InputError, match="epoch 0 produced no usable prompt"):
        log.fail_empty_epoch(0)


def test_bad_rows_pickle_for_worker_processes():
    import pickle

    again = pickle.loads(pickle.dumps(bad("r3", BadRowReason.TOO_LONG)))
    assert (again.reason, again.row, again.detail) == (BadRowReason.TOO_LONG, "r3", "broken")
