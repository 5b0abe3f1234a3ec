import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.data.prompt_renderer import MM_UPT_TEMPLATE, PromptConfig, build_messages, question_text
from megatron_mmupt.data.types import BadRow, BadRowReason, Example

SUFFIX = " Please reason step by step, and put your final answer within \\boxed{}."


def test_default_is_the_mm_upt_prompt():
    example = Example("a", "What is 2+3?", images=("img",))
    assert question_text(example, PromptConfig()) == "What is 2+3?" + SUFFIX
    assert build_messages(example, PromptConfig()) == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is 2+3?" + SUFFIX}]}
    ]


def test_placeholders_put_images_in_place():
    example = Example("a", "<image>Compare <image> and find x.", images=("i1", "i2"))
    (message,) = build_messages(example, PromptConfig(template="{question}"))
    assert message["content"] == [
        {"type": "image"},
        {"type": "text", "text": "Compare"},
        {"type": "image"},
        {"type": "text", "text": "and find x."},
    ]


def test_placeholder_count_must_match_images():
    with pytest.raises(BadRow) as info:
        build_messages(Example("r9", "<image> and <image>", images=("only one",)), PromptConfig())
    assert info.value.reason is BadRowReason.IMAGE_TOKEN_MISMATCH and "2 <image> placeholder(s)" in str(info.value)


def test_choices_are_appended_unless_listed():
    example = Example("a", "Which is larger?", choices=("3", "4"))
    assert question_text(example, PromptConfig(template="{question}")) == "Which is larger?\nChoices:\n(A) 3\n(B) 4"
    listed = Example("a", "Which is larger? (A) 3 (B) 4", choices=("3", "4"), choices_in_question=True)
    assert question_text(listed, PromptConfig(template="{question}")) == "Which is larger? (A) 3 (B) 4"
    assert "Choices" not in question_text(example, PromptConfig(template="{question}", append_choices=False))


def test_system_prompt_and_text_only_rows():
    (system, user) = build_messages(Example("a", "Hi"), PromptConfig(system_prompt="Be brief.", template="{question}"))
    assert system == {"role": "system", "content": "Be brief."}
    assert user["content"] == [{"type": "text", "text": "Hi"}]


@pytest.mark.parametrize(
    ("template", "message"),
    [("no placeholder", "must contain {question}"), ("{question} {other}", "not a valid format string")],
)
def test_template_validation(template, message):
    with pytest.raises(ConfigError, match=message):
        PromptConfig(template=template)
    assert "{{}}" in MM_UPT_TEMPLATE
