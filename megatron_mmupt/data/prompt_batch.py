"""What leaves the data stage: encoded prompts, one per question, and batches of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Literal

import torch


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    """One question, ready for a rollout engine.

    Attributes:
        id: the row's id (``Example.id``).
        input_ids: ``# (S,)`` long; each image expanded to its merged patches of ``<|image_pad|>``.
        position_ids: ``# (3, S)`` long 3-D rope ids (temporal, height, width), see ``data.rope``.
        rope_delta: a token appended at index ``i >= S`` has position ``i + rope_delta`` on every axis.
        pixel_values: ``# (P, C)`` float patches of all images of the prompt (``C = 3 * 2 * 14 * 14`` for
            Qwen2.5-VL), ``(0, 0)`` without images.
        image_grid_thw: ``# (num_images, 3)`` long patch grid of each image.
        text: the rendered chat text before image expansion (for engines that take text and images).
        answer, choices, metadata: carried from the ``Example``; labels never reach the reward.
    """

    id: str
    input_ids: torch.Tensor
    position_ids: torch.Tensor
    rope_delta: int
    pixel_values: torch.Tensor
    image_grid_thw: torch.Tensor
    text: str
    answer: str | None = None
    choices: tuple[str, ...] = ()
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_images(self) -> int:
        return int(self.image_grid_thw.shape[0])


@dataclasses.dataclass(frozen=True, slots=True)
class PromptBatch:
    """The prompts of one RL step, in sampling order.

    Attributes:
        prompts: the encoded prompts.
        epoch: the epoch the batch was drawn from.
        step_index: how many batches the pipeline had produced before this one (0-based).
    """

    prompts: tuple[Prompt, ...]
    epoch: int = 0
    step_index: int = 0

    def __len__(self) -> int:
        return len(self.prompts)

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self.prompts)

    def collate(self, pad_token_id: int, padding_side: Literal["left", "right"] = "left") -> dict[str, torch.Tensor]:
        """Padded model inputs of the whole batch (``B`` prompts, ``L`` the longest).

        Returns ``input_ids # (B, L)``, ``attention_mask # (B, L)``, ``position_ids # (3, B, L)`` (0 on padding,
        as transformers leaves it), ``pixel_values # (sum P, C)`` and ``image_grid_thw # (sum images, 3)``, both
        concatenated in prompt order, which is the order the model scatters image features back in.
        """
        if not self.prompts:
            raise ValueError("cannot collate an empty PromptBatch")
        length = max(p.num_tokens for p in self.prompts)
        batch = len(self.prompts)
        input_ids = torch.full((batch, length), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch, length), dtype=torch.long)
        position_ids = torch.zeros((3, batch, length), dtype=torch.long)
        for row, prompt in enumerate(self.prompts):
            n = prompt.num_tokens
            span = slice(length - n, length) if padding_side == "left" else slice(0, n)
            input_ids[row, span] = prompt.input_ids
            attention_mask[row, span] = 1
            position_ids[:, row, span] = prompt.position_ids
        with_images = [p for p in self.prompts if p.num_images]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "pixel_values": torch.cat([p.pixel_values for p in with_images]) if with_images else torch.zeros(0, 0),
            "image_grid_thw": torch.cat([p.image_grid_thw for p in self.prompts]).reshape(-1, 3),
        }
