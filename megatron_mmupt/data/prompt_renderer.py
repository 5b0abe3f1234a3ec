"""Chat messages of a question: the MM-UPT instruction, images where the question puts them, choices.

The default template is the MM-UPT reference prompt: ``problem + " Please reason step by step, and put
your final answer within \\boxed{}."`` as one user turn, with the chat template's default system prompt
(Qwen: "You are a helpful assistant."). ``<image>`` placeholders in the question (MMR1, Geometry3K)
mark where each image goes; a question without placeholders gets its images first, as Qwen2.5-VL's own
examples do. The model's chat template (applied by the encoder) turns each image item into
``<|vision_start|><|image_pad|><|vision_end|>``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive
from megatron_mmupt.data.types import BadRow, BadRowReason, Example

IMAGE_PLACEHOLDER = "<image>"
MM_UPT_INSTRUCTION = " Please reason step by step, and put your final answer within \\boxed{}."
"""What MM-UPT appends to every question (the reference's ``format_prompt``)."""
MM_UPT_TEMPLATE = "{question}" + MM_UPT_INSTRUCTION.replace("{}", "{{}}")


@dataclasses.dataclass(kw_only=True, slots=True)
class PromptConfig(ConfigNode):
    template: str = MM_UPT_TEMPLATE
    """Python format string with ``{question}`` (the MM-UPT reference prompt by default)."""
    system_prompt: str | None = None
    """System turn; ``None`` keeps the chat template's default."""
    append_choices: bool = True
    """Append ``Choices: (A) .. (B) ..`` to multiple-choice questions whose text does not list the options
    (``Example.choices_in_question``, set by the dataset preset)."""
    max_prompt_tokens: int = 2048
    """Longer prompts (image tokens included) are dropped and counted, never truncated (reference: 2048)."""

    def __post_init__(self) -> None:
        if "{question}" not in self.template:
            raise ConfigError(f"template={self.template!r} must contain {{question}}")
        try:
            self.template.format(question="")
        except (IndexError, KeyError, ValueError) as e:
            raise ConfigError(
                f"template={self.template!r} is not a valid format string ({e}); write braces as {{{{ }}}}"
            ) from None
        check_positive("max_prompt_tokens", self.max_prompt_tokens)


def question_text(example: Example, config: PromptConfig) -> str:
    """The question with its choices (when asked for) inside the configured template."""
    question = example.question.strip()
    if config.append_choices and example.choices and not example.choices_in_question:
        options = "\n".join(f"({chr(ord('A') + i)}) {choice}" for i, choice in enumerate(example.choices))
        question = f"{question}\nChoices:\n{options}"
    return config.template.format(question=question)


def build_messages(example: Example, config: PromptConfig) -> list[dict[str, Any]]:
    """Chat messages in the transformers multimodal format (``{"type": "image"}`` / ``{"type": "text"}``)."""
    text = question_text(example, config)
    num_images = len(example.images)
    placeholders = text.count(IMAGE_PLACEHOLDER)
    if placeholders and placeholders != num_images:
        raise BadRow(
            BadRowReason.IMAGE_TOKEN_MISMATCH,
            example.id,
            f"the question has {placeholders} {IMAGE_PLACEHOLDER} placeholder(s) but the row has {num_images} image(s)",
        )
    content: list[dict[str, Any]] = []
    if placeholders:
        for i, piece in enumerate(text.split(IMAGE_PLACEHOLDER)):
            if i:
                content.append({"type": "image"})
            if piece.strip():
                content.append({"type": "text", "text": piece.strip()})
    else:
        content = [{"type": "image"}] * num_images + [{"type": "text", "text": text}]
    messages: list[dict[str, Any]] = []
    if config.system_prompt is not None:
        messages.append({"role": "system", "content": config.system_prompt})
    messages.append({"role": "user", "content": content})
    return messages
