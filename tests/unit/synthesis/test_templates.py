"""Writer prompts: template checks and how a seed row fills them."""

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.data.types import Example
from megatron_mmupt.synthesis import QuestionWriterPrompt, TemplatesConfig

SEED = Example(id="s1", question="<image>How many squares are there?", images=(b"png",), choices=("2", "3"))


def test_in_context_shows_the_seed_question_with_its_options_and_one_image_placeholder_per_image():
    example = QuestionWriterPrompt(TemplatesConfig(), "in-context").example(SEED)
    assert example.question.startswith("<image>Example question about this image:\nHow many squares are there?\n")
    assert "Choices:\n(A) 2\n(B) 3" in example.question
    assert example.question.count("<image>") == 1 and example.images == SEED.images and example.answer is None


def test_direct_shows_only_the_image():
    two_images = Example(id="s2", question="<image><image>Compare", images=(b"a", b"b"))
    example = QuestionWriterPrompt(TemplatesConfig(), "direct").example(two_images)
    assert example.question.startswith("<image><image>Write a new question")
    assert "Compare" not in example.question


def test_seed_without_image_is_refused():
    with pytest.raises(ValueError, match="has no image"):
        QuestionWriterPrompt(TemplatesConfig(), "direct").example(Example(id="t", question="2+2?"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"direct": "Write a question."}, r"templates.direct must contain \{images\}"),
        ({"in_context": "{images} Write one."}, r"must contain \{example\}"),
        ({"direct": "{images} {answer}"}, "may use only"),
    ],
)
def test_bad_templates_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TemplatesConfig(**overrides)


def test_unknown_method():
    with pytest.raises(ConfigError, match="method"):
        QuestionWriterPrompt(TemplatesConfig(), "paraphrase")
