"""The text filters of synthesis and their config checks."""

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.synthesis import FilterConfig, parse_question
from megatron_mmupt.synthesis.filters import Deduplicator, is_copy, length_ok, normalized, share_ok


def test_normalized_ignores_case_punctuation_and_spacing():
    assert normalized("  How MANY red-circles,  are there? ") == "how many red circles are there"


def test_copy_compares_stems_without_image_placeholders_or_options():
    written = parse_question("how many  SQUARES are there\n?\nChoices:\n(A) 3\n(B) 1")
    assert is_copy(written, "<image>How many squares are there?\nChoices:\n(A) 2\n(B) 1\n(C) 7\n(D) 6")
    assert is_copy(written, "<image>How many squares are there?")
    assert not is_copy(written, "<image>How many red squares are there?")


def test_length_bounds_count_the_options_too():
    config = FilterConfig(min_chars=12, max_chars=30)
    assert not length_ok(parse_question("Why?"), config)
    assert length_ok(parse_question("How many red?"), config)
    assert not length_ok(parse_question("How many red?\nChoices:\n(A) 1\n(B) 2"), config)  # 34 characters


def test_duplicates_are_per_image():
    dedup, question = Deduplicator(), parse_question("How many squares are there?")
    assert not dedup.seen("img-1", question)
    assert dedup.seen("img-1", parse_question("how many squares are there ?"))
    assert not dedup.seen("img-2", question)  # the same question about another image is new data
    assert not dedup.seen("img-1", parse_question("How many squares are there?\nChoices:\n(A) 1\n(B) 2"))


def test_share_window():
    config = FilterConfig(min_share=0.5, max_share=0.875)
    assert [share_ok(s, config) for s in (0.375, 0.5, 0.875, 1.0)] == [False, True, True, False]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_chars": 50, "max_chars": 10}, "min_chars=50 > max_chars=10"),
        ({"min_share": 0.9, "max_share": 0.5}, "no question could pass"),
        ({"k": 0}, "k"),
        ({"min_share": 1.5}, "min_share"),
    ],
)
def test_bad_filter_configs_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        FilterConfig(**overrides)
