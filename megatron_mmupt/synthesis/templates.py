"""The prompts that ask the model to write a question: one template per method, filled per seed row.

MM-UPT's two ways for a model to make its own training questions (arXiv 2505.22453, section 5):

* ``in-context``: the image and its original question as an example -> a new, different question;
* ``direct``: the image alone -> a question.

The default templates state what a good question is (answerable from the image alone, one short final
answer), because the vote reward can only learn from questions whose samples can agree. They are rendered
as one user turn, without the MM-UPT answer instruction: the model is asked for a question, not a solution.

    writer = QuestionWriterPrompt(templates, method="in-context")
    example = writer.example(seed_example)      # an Example whose question is the filled template
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_choice
from megatron_mmupt.data.prompt_renderer import IMAGE_PLACEHOLDER, PromptConfig
from megatron_mmupt.data.types import Example

Method = Literal["in-context", "direct"]
METHODS: tuple[str, ...] = ("in-context", "direct")

ANSWER_FORMS = "one short final answer (a number, a word, or the letter of an option)"

DIRECT_TEMPLATE = (
    "{images}Write a new question about this image. A good question asks about what the image shows, can be "
    f"answered from the image alone, and has {ANSWER_FORMS}. Reply with the question only."
)
IN_CONTEXT_TEMPLATE = (
    "{images}Example question about this image:\n{example}\nWrite a new question about this image in the same "
    f"style that asks something different. A good question can be answered from the image alone and has "
    f"{ANSWER_FORMS}. Reply with the question only."
)

WRITER_PROMPT = PromptConfig(template="{question}", append_choices=False)
"""How a filled template becomes chat messages: as it is (no answer instruction, no appended choices)."""


@dataclasses.dataclass(kw_only=True, slots=True)
class TemplatesConfig(ConfigNode):
    direct: str = DIRECT_TEMPLATE
    """``{images}`` (one ``<image>`` per seed image) and nothing else to fill."""
    in_context: str = IN_CONTEXT_TEMPLATE
    """``{images}`` and ``{example}`` (the seed question, its options included, without image placeholders)."""

    def __post_init__(self) -> None:
        _check_template("direct", self.direct, ("images",))
        _check_template("in_context", self.in_context, ("images", "example"))


def _check_template(key: str, template: str, fields: tuple[str, ...]) -> None:
    values = {name: "" for name in fields}
    for name in fields:
        if "{" + name + "}" not in template:
            raise ConfigError(f"templates.{key} must contain {{{name}}}")
    try:
        template.format(**values)
    except (IndexError, KeyError, ValueError) as e:
        raise ConfigError(
            f"templates.{key} is not a valid format string ({e!r}); it may use only "
            f"{', '.join('{' + f + '}' for f in fields)}, and literal braces are written {{{{ }}}}"
        ) from None


class QuestionWriterPrompt:
    """Turns a seed example into the example whose "question" asks the model to write a question."""

    def __init__(self, templates: TemplatesConfig, method: str) -> None:
        check_choice("method", method, METHODS)
        self.template = templates.in_context if method == "in-context" else templates.direct
        self.method = method

    def example(self, seed: Example) -> Example:
        if not seed.images:
            raise ValueError(f"seed row {seed.id} has no image: synthesis writes questions about images")
        text = self.template.format(images=IMAGE_PLACEHOLDER * len(seed.images), example=seed_question_text(seed))
        return Example(id=seed.id, question=text, images=seed.images)


def seed_question_text(seed: Example) -> str:
    """The seed question as an example: without image placeholders, with its options when only the choices
    column lists them (so the model sees how a multiple-choice question is written)."""
    text = seed.question.replace(IMAGE_PLACEHOLDER, "").strip()
    if seed.choices and not seed.choices_in_question and "Choices:" not in text:
        options = "\n".join(f"({chr(ord('A') + i)}) {c}" for i, c in enumerate(seed.choices))
        text = f"{text}\nChoices:\n{options}"
    return text
