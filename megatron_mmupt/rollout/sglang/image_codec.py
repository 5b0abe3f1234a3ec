"""Images on the SGLang wire: from a prompt's patches to PNG data URIs, and from ``image_data`` items back.

A ``Prompt`` carries the patches the trainer sees (``pixel_values``), not the source image. SGLang wants an
image and runs the model's image processor itself. The patches of a Qwen2-VL image are the resized image,
rescaled, normalized and cut into ``patch x patch`` tiles (``Qwen2VLImageProcessor.patchify``), all
invertible: ``images_from_patches`` rebuilds the resized RGB image exactly (uint8, so PNG is lossless).
Its sides are multiples of ``patch * merge`` inside the processor's pixel bounds, so the engine's processor
does not resize it again and recomputes the very same patches (``tests/unit/rollout/test_image_codec.py``).
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from megatron_mmupt.utils.errors import InputError

NUM_CHANNELS = 3


def images_from_patches(pixel_values: torch.Tensor, image_grid_thw: torch.Tensor, processor: Any) -> list[Image.Image]:
    """The resized RGB images behind ``pixel_values # (P, C*T*p*p)`` with grids ``image_grid_thw # (N, 3)``.

    ``processor`` is the model's Qwen2-VL image processor (``image_mean``, ``image_std``, ``rescale_factor``,
    ``patch_size``, ``temporal_patch_size``, ``merge_size``). Still images only (``t == 1``).
    """
    p, tp, m = processor.patch_size, processor.temporal_patch_size, processor.merge_size
    mean = torch.tensor(processor.image_mean, dtype=torch.float64).view(NUM_CHANNELS, 1, 1)
    std = torch.tensor(processor.image_std, dtype=torch.float64).view(NUM_CHANNELS, 1, 1)
    images, offset = [], 0
    for t, h, w in image_grid_thw.tolist():
        if t != 1:
            raise InputError(f"image grid {(t, h, w)} has t={t}: only still images travel to the engine")
        tiles = pixel_values[offset : offset + h * w].double()
        offset += h * w
        # (h/m * w/m * m * m, C * tp * p * p) -> (h/m, w/m, m, m, C, tp, p, p); the tp copies are equal.
        x = tiles.reshape(h // m, w // m, m, m, NUM_CHANNELS, tp, p, p)[..., 0, :, :]
        x = x.permute(4, 0, 2, 5, 1, 3, 6).reshape(NUM_CHANNELS, h * p, w * p)  # (C, H, W)
        x = (x * std + mean) / processor.rescale_factor
        pixels = x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
        images.append(Image.fromarray(np.ascontiguousarray(pixels), mode="RGB"))
    if offset != pixel_values.shape[0]:
        raise InputError(f"{pixel_values.shape[0]} patches do not match the grids {image_grid_thw.tolist()}")
    return images


def to_data_uri(image: Image.Image) -> str:
    """``data:image/png;base64,...`` (lossless), the form SGLang's HTTP API and slime send."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def load_image_item(item: Any) -> Image.Image:
    """One ``image_data`` item as SGLang reads it over HTTP: a data URI, raw base64, an absolute path,
    ``file://`` path, or ``{"url": ...}``. URLs are refused: the server runs offline."""
    if isinstance(item, dict) and "url" in item:
        item = item["url"]
    if not isinstance(item, str):
        raise InputError(f"image_data items must be strings, got {type(item).__name__}")
    if item.startswith(("http://", "https://")):
        raise InputError("image_data URLs are not fetched by megatron-mmupt serve; send a data URI or a path")
    if item.startswith("file://") or item.startswith("/"):
        path = Path(item.removeprefix("file://"))
        if not path.is_file():
            raise InputError(f"image file {path} does not exist")
        return Image.open(path).convert("RGB")
    payload = item.split(",", 1)[1] if item.startswith("data:") else item
    try:
        return Image.open(io.BytesIO(base64.b64decode(payload, validate=True))).convert("RGB")
    except (binascii.Error, ValueError, OSError) as e:
        raise InputError(f"image_data item is neither a path nor a decodable base64 image: {e}") from None
