"""``Example -> Prompt``: decode images, render the chat, tokenize, expand image tokens, 3-D rope ids.

The invariant that breaks multimodal RL most often ("Image features and image tokens do not match") is
enforced here, once, at build time: every ``<|image_pad|>`` of the rendered chat belongs to exactly one
image, and is expanded to exactly that image's ``t*h*w / merge^2`` merged patches, as reported by the
image processor. Dataset text can neither add image tokens (special-token strings in a question are
removed before rendering) nor lose them (prompts over the length limit are dropped, never truncated).
Violations raise ``BadRow`` naming the row.
"""

from __future__ import annotations

import dataclasses

import torch

from megatron_mmupt.data.images import ImageConfig, decode_image
from megatron_mmupt.data.processing import Processors
from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.data.prompt_renderer import PromptConfig, build_messages
from megatron_mmupt.data.rope import continue_positions, rope_position_ids
from megatron_mmupt.data.types import BadRow, BadRowReason, Example


class PromptEncoder:
    """Encodes examples with one model's processors; picklable, so data workers can hold a copy."""

    def __init__(self, processors: Processors, prompt: PromptConfig, images: ImageConfig) -> None:
        self.processors, self.prompt = processors, prompt
        self._special = processors.special_token_strings()
        self._size = None
        if processors.has_vision:
            own = processors.image_processor.size
            edges = {"shortest_edge": own["shortest_edge"], "longest_edge": own["longest_edge"]}
            self._size = images.processor_size(edges)

    def encode(self, example: Example) -> Prompt:
        """The model inputs of one example; ``BadRow`` when it cannot become a valid prompt."""
        example = self._sanitized(example)
        if example.images and not self.processors.has_vision:
            raise BadRow(
                BadRowReason.IMAGES_UNSUPPORTED,
                example.id,
                f"{len(example.images)} image(s), but the model is text-only (its processor folder has no image "
                "processor); use a multimodal model or a dataset of text questions",
            )
        pil_images = [decode_image(ref, example.id) for ref in example.images]
        tokenizer = self.processors.tokenizer
        text = tokenizer.apply_chat_template(
            build_messages(example, self.prompt), tokenize=False, add_generation_prompt=True
        )
        ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)
        pixel_values, grid = self._vision(pil_images)
        input_ids = self._expand_image_tokens(ids, grid, example.id)
        if input_ids.shape[0] > self.prompt.max_prompt_tokens:
            raise BadRow(
                BadRowReason.TOO_LONG,
                example.id,
                f"{input_ids.shape[0]} tokens (images included) > max_prompt_tokens={self.prompt.max_prompt_tokens}",
            )
        if self.processors.has_vision:
            position_ids, delta = rope_position_ids(
                input_ids, grid, self.processors.image_token_id, self.processors.merge_size
            )
        else:  # text only: one position per token, on all three axes
            position_ids, delta = continue_positions(0, 0, input_ids.shape[0]), 0
        return Prompt(
            id=example.id,
            input_ids=input_ids,
            position_ids=position_ids,
            rope_delta=delta,
            pixel_values=pixel_values,
            image_grid_thw=grid,
            text=text,
            answer=example.answer,
            choices=example.choices,
            metadata=example.metadata,
        )

    def _sanitized(self, example: Example) -> Example:
        # A question quoting "<|image_pad|>" or "<|im_end|>" would add image tokens or end the turn early.
        question = example.question
        for token in self._special:
            question = question.replace(token, "")
        if not question.strip():
            raise BadRow(BadRowReason.EMPTY_QUESTION, example.id, "the question is empty")
        return example if question == example.question else dataclasses.replace(example, question=question)

    def _vision(self, images: list) -> tuple[torch.Tensor, torch.Tensor]:
        if not images:
            return torch.zeros(0, 0), torch.zeros(0, 3, dtype=torch.long)
        out = self.processors.image_processor(images=images, return_tensors="pt", size=self._size)
        return out["pixel_values"], out["image_grid_thw"].to(torch.long)

    def _expand_image_tokens(self, ids: torch.Tensor, grid: torch.Tensor, row: str) -> torch.Tensor:
        """Repeat the i-th ``<|image_pad|>`` ``t*h*w/merge^2`` times for the i-th image."""
        image_token = self.processors.image_token_id
        if image_token is None:  # a text-only model: there are no images (checked in ``encode``)
            return ids
        positions = (ids == image_token).nonzero().flatten().tolist()
        if len(positions) != grid.shape[0]:
            raise BadRow(
                BadRowReason.IMAGE_TOKEN_MISMATCH,
                row,
                f"the rendered chat has {len(positions)} image token(s) for {grid.shape[0]} image(s)",
            )
        counts = (grid.prod(dim=-1) // self.processors.merge_size**2).tolist()
        pieces, start = [], 0
        for position, count in zip(positions, counts, strict=True):
            pieces += [ids[start:position], torch.full((count,), image_token, dtype=torch.long)]
            start = position + 1
        pieces.append(ids[start:])
        expanded = torch.cat(pieces)
        assert int((expanded == image_token).sum()) == sum(counts)  # by construction; guards future edits
        return expanded
