import pytest

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.reward.equivalence import Equivalence, GroupAnswers
from megatron_mmupt.testing.equivalence_cases import CASES


@pytest.fixture(scope="module")
def verdicts(equivalence):
    classes = equivalence.cluster([GroupAnswers([c.a, c.b], c.choices) for c in CASES])
    return {id(c): ids[0] == ids[1] for c, ids in zip(CASES, classes, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}: {c.a} vs {c.b}")
def test_labeled_case(verdicts, case):
    assert verdicts[id(case)] is case.same


def test_classes_are_numbered_in_order_of_first_appearance(equivalence):
    ids = equivalence.cluster([GroupAnswers(["7", None, "0.5", "7.0", "\\frac12", "x > 1", "1 < x", None])])
    assert ids == [[0, None, 1, 0, 1, 2, 2, None]]


def test_option_text_maps_to_its_letter_only_when_unambiguous(equivalence):
    unique, ambiguous = equivalence.cluster(
        [GroupAnswers(["12", "B"], choices=("10", "12")), GroupAnswers(["12", "B"], choices=("12", "12"))]
    )
    assert unique == [0, 0]
    assert ambiguous == [0, 1]


def test_percent_ratio_mode():
    eq = apply_overrides(Equivalence.Config(), ["percent=ratio", "symbolic.backend=off"]).build()
    assert eq.cluster([GroupAnswers(["50\\%", "0.5", "50"])]) == [[0, 0, 1]]


def test_backend_off_compares_expressions_by_text():
    eq = apply_overrides(Equivalence.Config(), ["symbolic.backend=off"]).build()
    assert eq.cluster([GroupAnswers(["x > 3", "x>3", "3 < x"])]) == [[0, 0, 1]]
    assert eq.judge.stats == {}


def test_inline_backend_matches_process_backend(equivalence):
    inline = apply_overrides(Equivalence.Config(), ["symbolic.backend=inline"]).build()
    groups = [GroupAnswers(["x > 3", "(3, \\infty)", "x \\geq 3", "\\sinh x", "\\frac{e^x - e^{-x}}{2}"])]
    assert inline.cluster(groups) == equivalence.cluster(groups) == [[0, 0, 1, 2, 2]]


def test_symbolic_results_are_cached_across_batches(equivalence):
    groups = [GroupAnswers(["y \\neq 4", "4 \\neq y"])]
    equivalence.cluster(groups)
    calls = equivalence.judge.stats["analyze_calls"]
    equivalence.cluster(groups)
    assert equivalence.judge.stats["analyze_calls"] == calls
    assert equivalence.judge.stats["analyze_cache_hits"] >= 2
