"""Images: decode what a dataset holds into RGB ``PIL`` images, then let the model's image processor
resize and patchify them.

Decoding accepts encoded bytes, file paths, ``PIL`` images and the HF ``datasets.Image`` struct
``{"bytes", "path"}``; it applies the EXIF orientation (photos taken sideways) and converts to RGB
(palette, grayscale, alpha). Resizing follows the Qwen2.5-VL rules (both sides multiples of
``patch_size * merge_size`` = 28, total pixels within ``[min_pixels, max_pixels]``) and is done by
transformers' Qwen2-VL image processor itself, not re-implemented: ``ImageConfig`` only sets its bounds.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive
from megatron_mmupt.data.types import BadRow, BadRowReason, ImageRef

# Decompression bombs: a PNG of a few KB can claim 10^10 pixels. Far above any sane input (Qwen2.5-VL's own
# max_pixels default is 12.8M), so legitimate images never hit it.
MAX_DECODED_PIXELS = 64_000_000


@dataclasses.dataclass(kw_only=True, slots=True)
class ImageConfig(ConfigNode):
    min_pixels: int | None = None
    """Images with fewer pixels are upscaled; ``None`` keeps the model's image processor setting.
    The MM-UPT reference trains Qwen2.5-VL-7B with 512^2 = 262,144."""
    max_pixels: int | None = None
    """Images with more pixels are downscaled; ``None`` keeps the model's image processor setting.
    The MM-UPT reference trains Qwen2.5-VL-7B with 1536 * 28^2 = 1,204,224."""

    def __post_init__(self) -> None:
        for key in ("min_pixels", "max_pixels"):
            if getattr(self, key) is not None:
                check_positive(key, getattr(self, key))
        if self.min_pixels is not None and self.max_pixels is not None and self.max_pixels < self.min_pixels:
            raise ConfigError(f"max_pixels={self.max_pixels} must be >= min_pixels={self.min_pixels}")

    def processor_size(self, default: dict[str, int]) -> dict[str, int]:
        """The ``size`` argument of transformers' Qwen2-VL image processor (5.x names the pixel bounds so):
        the processor's own ``default`` with the configured bounds replacing its."""
        size = {"shortest_edge": default["shortest_edge"], "longest_edge": default["longest_edge"]}
        if self.min_pixels is not None:
            size["shortest_edge"] = self.min_pixels
        if self.max_pixels is not None:
            size["longest_edge"] = self.max_pixels
        if size["longest_edge"] < size["shortest_edge"]:
            raise ConfigError(
                f"images: max_pixels {size['longest_edge']} < min_pixels {size['shortest_edge']} once combined with "
                "the image processor's own bounds; set both data.images.min_pixels and data.images.max_pixels"
            )
        return size


def decode_image(ref: ImageRef, row: str) -> Image.Image:
    """An RGB image from any ``ImageRef``; ``BadRow(BAD_IMAGE)`` naming ``row`` when it cannot be read."""
    try:
        image = _open(ref)
        if image.width * image.height > MAX_DECODED_PIXELS:
            raise BadRow(
                BadRowReason.BAD_IMAGE, row, f"{image.width}x{image.height} pixels is over {MAX_DECODED_PIXELS}"
            )
        image = ImageOps.exif_transpose(image)  # loads the pixels: truncated files fail here, not later
        return image if image.mode == "RGB" else image.convert("RGB")
    except BadRow:
        raise
    except (OSError, UnidentifiedImageError, ValueError, TypeError, Image.DecompressionBombError) as e:
        raise BadRow(BadRowReason.BAD_IMAGE, row, f"cannot read image {_describe(ref)}: {e}") from None


def _open(ref: Any) -> Image.Image:
    if isinstance(ref, Image.Image):
        return ref
    if isinstance(ref, dict):
        if ref.get("bytes"):
            return Image.open(io.BytesIO(ref["bytes"]))
        if ref.get("path"):
            return Image.open(ref["path"])
        raise ValueError("image struct has neither bytes nor path")
    if isinstance(ref, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(ref)))
    if isinstance(ref, (str, os.PathLike)):
        return Image.open(ref)
    raise TypeError(f"unsupported image value of type {type(ref).__name__}")


def _describe(ref: Any) -> str:
    if isinstance(ref, dict):
        return repr(ref.get("path")) if ref.get("path") else f"<{len(ref.get('bytes') or b'')} bytes>"
    if isinstance(ref, (bytes, bytearray, memoryview)):
        return f"<{len(ref)} bytes>"
    return repr(ref) if isinstance(ref, (str, os.PathLike)) else type(ref).__name__
