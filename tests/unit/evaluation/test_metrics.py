"""Metrics on hand-made results: pass@1 against maj@n, ties, invalid answers, breakdowns, We-Math's dimensions."""

from __future__ import annotations

import math

import pytest

from megatron_mmupt.evaluation.metrics import (
    breakdown,
    by_field,
    majority_answer,
    majority_correct,
    pass_at_1,
    summarize,
)
from megatron_mmupt.evaluation.results import ItemResult
from megatron_mmupt.evaluation.we_math import four_dimensional, step_level


def item(answers, label="5", item_id="q", **metadata) -> ItemResult:
    """An ItemResult graded as the reward stage would: classes in first-seen order, exact-text equality."""
    classes: dict[str, int] = {}
    class_ids = tuple(None if a is None else classes.setdefault(a, len(classes)) for a in answers)
    correct = tuple(a is not None and a == label for a in answers)
    return ItemResult(item_id, label, tuple(answers), class_ids, correct, metadata=metadata)


def test_pass_at_1_is_the_mean_of_samples_and_maj_at_n_the_vote():
    # Right but outvoted: pass@1 2/5, maj@5 wrong. Wrong but the majority right: pass@1 3/5, maj@5 right.
    outvoted = item(["5", "7", "7", "5", "7"])
    carried = item(["5", "5", "2", "5", "9"], item_id="r")
    assert (pass_at_1(outvoted), majority_correct(outvoted)) == (0.4, False)
    assert (pass_at_1(carried), majority_correct(carried)) == (0.6, True)
    summary = summarize([outvoted, carried])
    assert summary.pass_at_1 == pytest.approx(0.5) and summary.maj_at_n == 0.5
    assert summary.to_dict()["maj_at_5"] == 0.5 and "maj_at_n" not in summary.to_dict()


def test_vote_raises_accuracy_above_single_samples():
    # Each question is right in 3 of 5 samples, wrong answers scattered: the vote fixes every question.
    items = [item(["5", "1", "5", "2", "5"], item_id=str(i)) for i in range(4)]
    summary = summarize(items)
    assert summary.pass_at_1 == pytest.approx(0.6) and summary.maj_at_n == 1.0 and summary.ties == 0.0


def test_ties_go_to_the_class_sampled_first():
    first_right = item(["5", "7", "7", "5"])
    first_wrong = item(["7", "5", "5", "7"], item_id="r")
    assert majority_correct(first_right) and majority_answer(first_right) == "5"
    assert not majority_correct(first_wrong) and majority_answer(first_wrong) == "7"
    summary = summarize([first_right, first_wrong])
    assert summary.ties == 1.0 and summary.maj_at_n == 0.5 and summary.pass_at_1 == 0.5
    # Three-way tie: still the first seen, whatever the order of the others.
    assert majority_answer(item(["2", "5", "7"])) == "2"


def test_invalid_answers_are_wrong_and_never_win_the_vote():
    # One valid right answer among three invalid: the vote is decided by the sample that answered.
    few = item([None, None, "5", None])
    assert (pass_at_1(few), majority_correct(few), majority_answer(few)) == (0.25, True, "5")
    # No sample answered: wrong, no majority, not a tie.
    silent = item([None, None, None, None], item_id="r")
    assert (pass_at_1(silent), majority_correct(silent), majority_answer(silent)) == (0.0, False, None)
    summary = summarize([few, silent])
    assert summary.answer_rate == pytest.approx(1 / 8) and summary.ties == 0.0
    assert summary.majority_share == pytest.approx(0.125) and summary.distinct_answers == 0.5


def test_results_that_contradict_themselves_are_refused():
    with pytest.raises(ValueError, match="without an answer is marked correct"):
        ItemResult("q", "5", (None,), (None,), (True,))
    with pytest.raises(ValueError, match="class 0 holds both correct and wrong"):
        ItemResult("q", "5", ("5", "5"), (0, 0), (True, False))
    with pytest.raises(ValueError, match="numbered 0, 1"):
        majority_correct(ItemResult("q", "5", ("5",), (1,), (True,)))
    with pytest.raises(ValueError, match="different numbers of samples"):
        summarize([item(["5"]), item(["5", "5"], item_id="r")])
    with pytest.raises(ValueError, match="no graded questions"):
        summarize([])


def test_breakdowns_group_by_metadata_lists_count_in_each_group_none_in_no_group():
    items = [
        item(["5", "5"], item_id="a", task="geometry", skills=["algebra", "logic"], level=2),
        item(["1", "1"], item_id="b", task="geometry", skills=["logic"], level=10),
        item(["5", "1"], item_id="c", task="statistics", skills=[], level=None),
    ]
    by_task = breakdown(items, by_field("task"))
    assert list(by_task) == ["geometry", "statistics"]
    assert (by_task["geometry"].questions, by_task["geometry"].maj_at_n) == (2, 0.5)
    by_skill = breakdown(items, by_field("skills"))
    assert {k: v.questions for k, v in by_skill.items()} == {"algebra": 1, "logic": 2}
    assert by_skill["logic"].pass_at_1 == 0.5
    assert list(breakdown(items, by_field("level"))) == ["2", "10"]  # numbers in numeric order; None left out


def test_response_length_and_truncation_rate():
    graded = ItemResult("q", "5", ("5", None), (0, None), (True, False), num_tokens=(10, 30), truncated=(False, True))
    summary = summarize([graded])
    assert (summary.response_length, summary.truncated) == (20.0, 0.5)


def we_math(problem, num_steps, step, right):
    return item(["A" if right else "B"], label="A", item_id=f"{problem}-{step}", we_math_id=problem,
                num_steps=num_steps, step=step)  # fmt: skip


def test_we_math_four_dimensional_metrics():
    items = [
        # p1: all subs right, composite right -> CM (strict and loose)
        we_math("p1", 2, 1, True), we_math("p1", 2, 2, True), we_math("p1", 2, "multi", True),
        # p2: subs right, composite wrong -> IG
        we_math("p2", 2, 1, True), we_math("p2", 2, 2, True), we_math("p2", 2, "multi", False),
        # p3: one sub wrong, composite right -> RM strict, CM loose
        we_math("p3", 3, 1, True), we_math("p3", 3, 2, False), we_math("p3", 3, 3, True), we_math("p3", 3, "multi", True),
        # p4: subs wrong, composite wrong -> IK
        we_math("p4", 2, 1, False), we_math("p4", 2, 2, False), we_math("p4", 2, "multi", False),
        # p5: its composite was not evaluated -> not counted
        we_math("p5", 2, 1, True), we_math("p5", 2, 2, True),
    ]  # fmt: skip
    metrics = four_dimensional(items)
    assert metrics["problems"] == 4
    assert (metrics["IK"], metrics["IG"], metrics["CM_strict"], metrics["CM_loose"]) == (0.25, 0.25, 0.25, 0.5)
    assert metrics["RM_strict"] == 0.5 and metrics["RM_loose"] == 0.0  # RM / (CM + RM)
    assert metrics["score_strict"] == pytest.approx((4 - 0.5 - 1 - 1) / 4)
    assert metrics["score_loose"] == pytest.approx((4 - 0.5 - 0 - 1) / 4)
    assert four_dimensional(items[-2:]) == {}
    levels = breakdown(items, step_level)
    assert {k: v.questions for k, v in levels.items()} == {"S1 one-step": 11, "S2 two-step": 3, "S3 three-step": 1}
    assert not math.isnan(levels["S1 one-step"].pass_at_1)
