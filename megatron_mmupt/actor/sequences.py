"""Prompts + sampled responses -> the actor's training sequences (right-padded), with 3-D rope ids.

Row ``i`` is sample ``i`` of the rollout batch: the prompt's tokens, then the response's. Positions: the
prompt's 3-D rope ids from the data stage, then the response continuing at ``index + rope_delta``
(``data.rope.continue_positions``), so no image is needed again to place the response.

Log-prob layout: the logits at position ``t`` predict token ``t + 1``, so everything token-level has
``T = L - 1`` columns: ``targets = input_ids[:, 1:]`` and ``response_mask`` marks the columns whose target is a
response token. The algorithm stage's ``TrainBatch`` uses the same ``(N, T)`` layout, and the rollout
engine's per-token log-probs are placed in it by ``place_response_values``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.data.rope import continue_positions


@dataclasses.dataclass(frozen=True, slots=True)
class SequenceBatch:
    """``N`` prompt+response sequences of padded length ``L``.

    Attributes:
        input_ids: ``(N, L)`` long, right-padded with ``pad_token_id``.
        position_ids: ``(3, N, L)`` long; 0 on padding.
        pixel_values: ``(sum of patches, C)`` of every row's images, row after row (a prompt's images are
            repeated for each of its samples: the vision tower sees each row independently).
        image_grid_thw: ``(sum of images, 3)`` long, in the same order.
        response_mask: ``(N, L - 1)`` bool: column ``t`` predicts a response token.
        prompt_lengths, response_lengths: ``(N,)`` long.
        images_per_row, patches_per_row: how ``image_grid_thw`` and ``pixel_values`` split into rows.
        image_keys: rows with the same key have the same images (the samples of one prompt): a micro-batch
            encodes each distinct image once and the model reuses its features (``image_index``).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    pixel_values: torch.Tensor
    image_grid_thw: torch.Tensor
    response_mask: torch.Tensor
    prompt_lengths: torch.Tensor
    response_lengths: torch.Tensor
    images_per_row: tuple[int, ...]
    patches_per_row: tuple[int, ...]
    image_keys: tuple[str, ...] = ()

    @property
    def num_rows(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def targets(self) -> torch.Tensor:
        """``(N, L - 1)``: the token each logit column predicts."""
        return self.input_ids[:, 1:]

    def model_inputs(self, rows: list[int], *, share_images: bool = False) -> dict[str, torch.Tensor | None]:
        """The model's keyword arguments for the given rows, their images selected to match.

        ``share_images`` (for models that take ``image_index``, as ``Qwen2_5_VLModel``): images shared by several
        rows are passed once, and ``image_index`` (one entry per image of ``rows``, in order) says which of the
        passed images each is; ``None`` when every image is distinct. Otherwise every row brings its own copy.
        """
        if not share_images:
            return self._inputs(rows, rows, None)
        return self._inputs(rows, *self._distinct_image_rows(rows))

    def _inputs(self, rows: list[int], unique_rows: list[int], image_index: torch.Tensor | None) -> dict:
        image_rows = _spans(unique_rows, self.images_per_row)
        patch_rows = _spans(unique_rows, self.patches_per_row)
        return {
            "input_ids": self.input_ids[rows],
            "position_ids": self.position_ids[:, rows],
            "pixel_values": self.pixel_values[patch_rows] if patch_rows else None,
            "image_grid_thw": self.image_grid_thw[image_rows] if image_rows else None,
        } | ({"image_index": image_index} if image_index is not None else {})

    def _distinct_image_rows(self, rows: list[int]) -> tuple[list[int], torch.Tensor | None]:
        if not self.image_keys:
            return rows, None
        first_image: dict[str, int] = {}  # key -> position of its first image among the distinct rows' images
        unique_rows: list[int] = []
        index: list[int] = []
        for row in rows:
            key, count = self.image_keys[row], self.images_per_row[row]
            if key not in first_image:
                first_image[key] = sum(self.images_per_row[r] for r in unique_rows)
                unique_rows.append(row)
            index += range(first_image[key], first_image[key] + count)
        if len(unique_rows) == len(rows):
            return rows, None
        return unique_rows, torch.tensor(index, dtype=torch.long)


def _spans(rows: list[int], counts: tuple[int, ...]) -> list[int]:
    """Indices of the items of ``rows`` in a concatenation where row ``r`` owns ``counts[r]`` items."""
    starts = [0]
    for count in counts[:-1]:
        starts.append(starts[-1] + count)
    return [i for r in rows for i in range(starts[r], starts[r] + counts[r])]


def build_sequences(
    prompts: Sequence[Prompt], responses: Sequence[Sequence[int]], pad_token_id: int, *, pad_to_multiple: int = 1
) -> SequenceBatch:
    """One row per (prompt, response) pair: ``prompts[i]`` is the prompt of ``responses[i]``."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
    if not prompts:
        raise ValueError("no sequences to build")
    rows = [(p, torch.as_tensor(list(r), dtype=torch.long)) for p, r in zip(prompts, responses, strict=True)]
    longest = max(p.num_tokens + len(r) for p, r in rows)
    length = -(-longest // pad_to_multiple) * pad_to_multiple
    n = len(rows)
    input_ids = torch.full((n, length), pad_token_id, dtype=torch.long)
    position_ids = torch.zeros((3, n, length), dtype=torch.long)
    response_mask = torch.zeros((n, length - 1), dtype=torch.bool)
    for i, (prompt, response) in enumerate(rows):
        p, r = prompt.num_tokens, len(response)
        input_ids[i, :p] = prompt.input_ids
        input_ids[i, p : p + r] = response
        position_ids[:, i, :p] = prompt.position_ids
        position_ids[:, i, p : p + r] = continue_positions(prompt.rope_delta, p, r)
        response_mask[i, p - 1 : p - 1 + r] = True  # logit column p-1 predicts the first response token
    with_images = [p for p, _ in rows if p.num_images]
    return SequenceBatch(
        input_ids=input_ids,
        position_ids=position_ids,
        pixel_values=torch.cat([p.pixel_values for p in with_images]) if with_images else torch.zeros(0, 0),
        image_grid_thw=torch.cat([p.image_grid_thw for p, _ in rows]).reshape(-1, 3),
        response_mask=response_mask,
        prompt_lengths=torch.tensor([p.num_tokens for p, _ in rows]),
        response_lengths=torch.tensor([len(r) for _, r in rows]),
        images_per_row=tuple(p.num_images for p, _ in rows),
        patches_per_row=tuple(int(p.pixel_values.shape[0]) if p.num_images else 0 for p, _ in rows),
        image_keys=tuple(p.id for p, _ in rows),
    )


def place_response_values(values: Sequence[Sequence[float]], batch: SequenceBatch) -> torch.Tensor:
    """Per-response-token values (e.g. rollout log-probs) laid out as ``(N, L - 1)``, 0 elsewhere."""
    out = torch.zeros(batch.response_mask.shape, dtype=torch.float32)
    for i, row in enumerate(values):
        start, count = int(batch.prompt_lengths[i]) - 1, int(batch.response_lengths[i])
        if len(row) != count:
            raise ValueError(f"row {i}: {len(row)} values for {count} response tokens")
        out[i, start : start + count] = torch.as_tensor(list(row), dtype=torch.float32)
    return out
