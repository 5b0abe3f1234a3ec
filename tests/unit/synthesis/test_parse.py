"""``parse_question``: what counts as a written question, and why a response is not one."""

import pytest

from megatron_mmupt.synthesis import Unparseable, WrittenQuestion, parse_question


@pytest.mark.parametrize(
    ("response", "stem", "choices"),
    [
        ("How many red circles are there?", "How many red circles are there?", ()),
        ("  Question: How many\n squares are there? ", "How many squares are there?", ()),
        ('New question: "Are there more red shapes or blue shapes?"', "Are there more red shapes or blue shapes?", ()),
        ("<image>What is the sum?", "What is the sum?", ()),
        ("How many squares?\nChoices:\n(A) 2\n(B) 1\n(C) 7", "How many squares?", ("2", "1", "7")),
        ("Which angle?\nchoices:\nA. 40°\nB. 60°", "Which angle?", ("40°", "60°")),
    ],
)
def test_questions_parse_to_stem_and_options(response, stem, choices):
    assert parse_question(response) == WrittenQuestion(stem=stem, choices=choices)


def test_text_shows_options_as_the_prompt_renderer_does():
    question = parse_question("How many?\nChoices:\nA: 2\nB: 3")
    assert question.text == "How many?\nChoices:\n(A) 2\n(B) 3"
    assert parse_question("How many?").text == "How many?"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("", "empty response"),
        ("Question:   ", "empty response"),
        ("I see 2 squares. \\boxed{2}", "answers instead of asking"),
        ("Count the red circles.", "no question mark"),
        ("How many?\nChoices:\n(A) 2\n(C) 3", "lists option C where B belongs"),
        ("How many?\nChoices:\n(A) 2", "fewer than two options"),
        ("How many?\nChoices:\n(A) 2\n(B) 2", "two options are the same"),
    ],
)
def test_non_questions_are_unparseable_with_a_reason(response, reason):
    parsed = parse_question(response)
    assert isinstance(parsed, Unparseable)
    assert reason in parsed.reason
