import pytest

from megatron_mmupt.reward.choices import letters_for, parse_choice_letter
from megatron_mmupt.utils.errors import InputError


@pytest.mark.parametrize(
    "text",
    ["B", "(B)", "B.", "B)", "[B]", "{B}", "Option B", "option (B)", "Choice: B", "**B**", "(B) 12", "B. 12 cm", "B: 12",
     "The answer is B", "Answer: B", "option B."],
)  # fmt: skip
def test_letter_spellings(text):
    assert parse_choice_letter(text) == "B"


@pytest.mark.parametrize("text", ["b", "x", "F", "AB", "A B", "A is wrong", "Apple", "I", "12"])
def test_not_a_choice(text):
    assert parse_choice_letter(text) is None


def test_letters_follow_the_number_of_choices():
    assert letters_for(("1", "2", "3"), "ABCDE") == "ABC"
    assert letters_for((), "ABCD") == "ABCD"
    assert parse_choice_letter("D", letters="ABC") is None
    with pytest.raises(InputError, match="at most 10 choices"):
        letters_for(tuple(str(i) for i in range(11)), "ABCDE")
