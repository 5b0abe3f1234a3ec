import pytest

from megatron_mmupt.reward.answer_extraction import MAX_ANSWER_CHARS, extract_answer, last_boxed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the answer is \\boxed{12}.", "12"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("first \\boxed{3}, finally \\boxed{4}", "4"),
        ("\\fbox{7}", "7"),
        ("\\boxed {5}", "5"),
        ("\\boxed{\\boxed{5}}", "5"),
        ("\\boxed{ \\boxed{\\frac{1}{2}} }", "\\frac{1}{2}"),
        ("\\boxed{\\boxed{2} + \\boxed{3}}", "\\boxed{2} + \\boxed{3}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{\\left\\{ x \\right\\}}", "\\left\\{ x \\right\\}"),
        ("\\boxed{a \\\\ b}", "a \\\\ b"),
        ("\\boxed{3} then cut off \\boxed{\\frac{1}{", "3"),
        ("\\boxed{答案是 5 个}", "答案是 5 个"),
        ("\\boxed{🙂}", "🙂"),
    ],
)
def test_last_complete_box(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize("text", ["", "no box here", "\\boxed{", "\\boxed{unclosed {braces}", "}}}{{{\\boxed"])
def test_no_complete_box(text):
    assert last_boxed(text) is None


@pytest.mark.parametrize("text", ["\\boxed{}", "\\boxed{   }", "\\boxed{\n}"])
def test_empty_box_is_no_answer(text):
    result = extract_answer(text)
    assert result.answer is None and not result.has_answer


def test_hostile_long_inputs_stay_linear():
    # 30k unclosed boxes: a quadratic scan would take minutes; the matcher is one pass.
    assert last_boxed("\\boxed{" * 30_000) is None
    long_reasoning = "x " * 50_000 + "\\boxed{42}"
    assert extract_answer(long_reasoning).answer == "42"
    deep = "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}"
    assert last_boxed(deep) == "{" * 5000 + "1" + "}" * 5000


def test_overlong_answer_is_no_answer():
    assert extract_answer("\\boxed{" + "9" * (MAX_ANSWER_CHARS + 1) + "}").answer is None
    assert extract_answer("\\boxed{" + "9" * MAX_ANSWER_CHARS + "}").answer == "9" * MAX_ANSWER_CHARS


@pytest.mark.parametrize(
    ("text", "sources", "expected", "source"),
    [
        ("The answer is 12.", ("boxed", "answer_is"), "12", "answer_is"),
        ("So the final answer is: 3.5.", ("boxed", "answer_is"), "3.5", "answer_is"),
        ("reasoning\nAnswer: (B)\n", ("boxed", "answer_line"), "(B)", "answer_line"),
        ("**Final Answer:** 7", ("answer_line",), "7", "answer_line"),
        ("<think>hmm</think><answer>9</answer>", ("answer_tag",), "9", "answer_tag"),
        ("<answer>so \\boxed{4}</answer>", ("answer_tag",), "4", "answer_tag"),
        ("The answer is 12 but \\boxed{13}", ("boxed", "answer_is"), "13", "boxed"),
    ],
)
def test_fallback_sources_in_order(text, sources, expected, source):
    result = extract_answer(text, sources)
    assert (result.answer, result.source) == (expected, source)


def test_fallbacks_are_off_by_default():
    # MM-UPT's prompt asks for a box; unboxed answers are not votes unless configured.
    assert extract_answer("The answer is 12.").answer is None
