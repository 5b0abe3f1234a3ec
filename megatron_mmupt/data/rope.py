"""3-D rotary position ids ("mrope") of Qwen2-VL / Qwen2.5-VL, for prompts with images.

Text tokens advance one position per token on all three axes (temporal, height, width). The merged
tokens of an image of grid ``(t, h, w)`` patches take the positions of a ``t x h/m x w/m`` grid offset by
the current position ``p``: temporal ``p + i``, height ``p + j``, width ``p + k`` (``m``: the spatial merge
size), and the text after the image resumes at ``p + max(h, w) / m``. Because positions then run ahead of
or behind token indices, every prompt carries ``delta = max position + 1 - length``: a token appended at
index ``i >= length`` (the response) has position ``i + delta`` on every axis.

This reproduces transformers' ``Qwen2_5_VLModel.get_rope_index`` for still images (the tests compare the
two), computed once per prompt in the data pipeline and carried with its tokens, so that batching,
packing and appending the response never recompute or lose it. Videos are not supported.
"""

from __future__ import annotations

import torch


def rope_position_ids(
    input_ids: torch.Tensor, image_grid_thw: torch.Tensor, image_token_id: int, spatial_merge_size: int
) -> tuple[torch.Tensor, int]:
    """Position ids ``# (3, S)`` long of one prompt, and its ``delta``.

    Args:
        input_ids: ``# (S,)`` token ids, each image already expanded to its ``t*h*w/m^2`` image tokens.
        image_grid_thw: ``# (num_images, 3)`` patch grid of each image, in the order the images appear.
        image_token_id: id of ``<|image_pad|>``.
        spatial_merge_size: ``m`` (2 for Qwen2-VL and Qwen2.5-VL).

    Raises ValueError when the image tokens do not form one run of the right length per image.
    """
    is_image = (input_ids == image_token_id).tolist()
    sizes = [int(t * h * w) // spatial_merge_size**2 for t, h, w in image_grid_thw.tolist()]
    pieces: list[torch.Tensor] = []
    position, index, image = 0, 0, 0
    length = len(is_image)
    while index < length:
        end = index
        while end < length and is_image[end] == is_image[index]:
            end += 1
        if is_image[index]:
            # One run of image tokens may hold several images only if nothing separates them; take them in order.
            while index < end:
                if image >= len(sizes) or index + sizes[image] > end:
                    raise ValueError(_mismatch(is_image, sizes))
                grid = image_grid_thw[image].tolist()
                pieces.append(_image_positions(position, grid, spatial_merge_size))
                position += max(grid[1], grid[2]) // spatial_merge_size
                index += sizes[image]
                image += 1
        else:
            pieces.append(torch.arange(position, position + end - index).expand(3, -1))
            position += end - index
            index = end
    if image != len(sizes):
        raise ValueError(_mismatch(is_image, sizes))
    positions = torch.cat(pieces, dim=1) if pieces else torch.zeros(3, 0, dtype=torch.long)
    delta = int(positions.max()) + 1 - length if length else 0
    return positions, delta


def _image_positions(start: int, grid_thw: list[int], merge: int) -> torch.Tensor:
    t, h, w = grid_thw[0], grid_thw[1] // merge, grid_thw[2] // merge
    grid_t, grid_h, grid_w = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([grid_t, grid_h, grid_w]).reshape(3, -1) + start  # (3, t*h*w)


def _mismatch(is_image: list[bool], sizes: list[int]) -> str:
    return (
        f"{sum(is_image)} image tokens do not match {len(sizes)} image(s) of {sizes} merged patches; "
        "each image must be expanded to exactly t*h*w/merge^2 image tokens"
    )


def continue_positions(delta: int, start: int, length: int) -> torch.Tensor:
    """Positions ``# (3, length)`` of tokens appended at indices ``start..start+length-1`` (the response)."""
    return torch.arange(start + delta, start + delta + length).expand(3, -1)
