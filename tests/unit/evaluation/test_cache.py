"""The per-question cache: durable appends, a half-written last line cut off, a damaged line refused."""

from __future__ import annotations

import pytest

from megatron_mmupt.evaluation.cache import ResponseCache
from megatron_mmupt.evaluation.results import Responses
from megatron_mmupt.utils.errors import InputError


def responses(i: int) -> Responses:
    return Responses(f"q{i}", f"key{i}", (f"\\boxed{{{i}}}", "ünïcode"), ("stop", "length"), (5, 9))


def test_appended_records_are_found_by_key_after_reopening(tmp_path):
    path = tmp_path / "cache" / "demo.jsonl"
    cache = ResponseCache(path)
    cache.append([responses(0), responses(1)])
    cache.append([responses(2)])
    reopened = ResponseCache(path)
    assert len(reopened) == 3 and reopened.get("key1") == responses(1) and reopened.get("q1") is None
    assert reopened.torn_bytes == 0


def test_a_half_written_last_line_is_cut_off_and_appending_continues(tmp_path):
    path = tmp_path / "demo.jsonl"
    ResponseCache(path).append([responses(0), responses(1)])
    whole = path.read_bytes()
    path.write_bytes(whole + whole.splitlines(keepends=True)[0][:17])  # the process died inside a write
    cache = ResponseCache(path)
    assert (len(cache), cache.torn_bytes) == (2, 17) and path.read_bytes() == whole
    cache.append([responses(2)])
    assert len(ResponseCache(path)) == 3


def test_a_damaged_line_inside_the_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "demo.jsonl"
    ResponseCache(path).append([responses(0)])
    path.write_text(path.read_text() + '{"id": "q1"}\n' + path.read_text())
    with pytest.raises(InputError, match=r"demo.jsonl:2: not a cached evaluation record .*delete the file"):
        ResponseCache(path)
