"""The demo model's processor folder: tokenizer, chat template and Qwen2-VL image processor, in HF format.

``save_processor`` writes what a Qwen2.5-VL model folder holds for its processor:

* ``tokenizer.json`` + ``tokenizer_config.json`` (``Qwen2Tokenizer``) and ``chat_template.jinja``;
* ``preprocessor_config.json``: a Qwen2-VL image processor (patch 14, merge 2, temporal patch 2, CLIP
  mean/std) whose pixel bounds keep the demo images at their size: ``[(S/2)^2, S^2]`` for ``S x S`` images;
* ``processor_config.json`` naming ``Qwen2_5_VLProcessor``.

Offline, ``AutoTokenizer`` and ``AutoImageProcessor`` load it (as ``data.processing.load_processors`` does).
``AutoProcessor`` builds ``Qwen2_5_VLProcessor`` from it where torchvision is installed (GPU images):
transformers 5.x requires a video processor, which needs torchvision, so CPU-only installs cannot build the
combined processor for any Qwen2.5-VL folder. Without torchvision the image processor is the PIL variant
(``Qwen2VLImageProcessorPil``), which gives the same patches.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH_SIZE = 14, 2, 2
"""Qwen2.5-VL's vision tower: 14-pixel patches, 2 x 2 spatial merge, 2 frames per temporal patch."""
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PROCESSOR_CLASS = "Qwen2_5_VLProcessor"


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessorSpec:
    """What a model built for this processor must agree with (``Qwen2_5_VLConfig`` fields of these names).

    Attributes:
        vocab_size: tokens in the tokenizer, added tokens included (the embedding needs at least this many rows).
        image_token_id .. pad_token_id: ids of ``<|image_pad|>``, ``<|video_pad|>``, ``<|vision_start|>``,
            ``<|vision_end|>``, ``<|im_start|>``, ``<|im_end|>`` (EOS) and ``<|endoftext|>`` (PAD).
        patch_size, merge_size, temporal_patch_size: the vision tower's patching (``vision_config``:
            ``patch_size``, ``spatial_merge_size``, ``temporal_patch_size``).
        image_size: side of the demo images; ``image_tokens``: merged vision tokens per image,
            ``(image_size / (patch_size * merge_size))^2``.
        min_pixels, max_pixels: the image processor's resize bounds.
    """

    vocab_size: int
    image_token_id: int
    video_token_id: int
    vision_start_token_id: int
    vision_end_token_id: int
    im_start_token_id: int
    eos_token_id: int
    pad_token_id: int
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    image_size: int
    image_tokens: int
    min_pixels: int
    max_pixels: int

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_parts(cls, tokenizer: Any, image_processor: Any, image_size: int) -> ProcessorSpec:
        """Read the ids from a tokenizer and the patching from an image processor (no hard-coded ids)."""

        def token_id(token: str) -> int:
            ids = tokenizer.convert_tokens_to_ids([token])
            if not ids or ids[0] is None or tokenizer.convert_ids_to_tokens(ids[0]) != token:
                raise ValueError(f"the tokenizer has no {token} token")
            return int(ids[0])

        size = image_processor.size
        patch = image_processor.patch_size * image_processor.merge_size
        return cls(
            vocab_size=len(tokenizer),
            image_token_id=token_id("<|image_pad|>"),
            video_token_id=token_id("<|video_pad|>"),
            vision_start_token_id=token_id("<|vision_start|>"),
            vision_end_token_id=token_id("<|vision_end|>"),
            im_start_token_id=token_id("<|im_start|>"),
            eos_token_id=token_id(tokenizer.eos_token),
            pad_token_id=token_id(tokenizer.pad_token),
            patch_size=int(image_processor.patch_size),
            merge_size=int(image_processor.merge_size),
            temporal_patch_size=int(image_processor.temporal_patch_size),
            image_size=image_size,
            image_tokens=(image_size // patch) ** 2,
            min_pixels=int(size["shortest_edge"]),
            max_pixels=int(size["longest_edge"]),
        )


def make_image_processor(image_size: int) -> Any:
    """A Qwen2-VL image processor that leaves ``image_size x image_size`` images unresized."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    # NOTE: the PIL class directly: ``Qwen2VLImageProcessor`` falls back to it (with a warning) without
    # torchvision anyway, and both save ``image_processor_type: Qwen2VLImageProcessor``, so a folder
    # written here loads the torchvision variant where that exists.
    return Qwen2VLImageProcessorPil(
        min_pixels=(image_size // 2) ** 2,
        max_pixels=image_size**2,
        patch_size=PATCH_SIZE,
        merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )


def save_processor(directory: str | Path, tokenizer: Any, image_size: int) -> ProcessorSpec:
    """Write the processor folder for ``tokenizer`` (from ``tokenizer.train_tokenizer``) and
    ``image_size`` images into ``directory``; return the ids and sizes a model must match."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    image_processor = make_image_processor(image_size)
    tokenizer.save_pretrained(directory)  # tokenizer.json, tokenizer_config.json, chat_template.jinja
    image_processor.save_pretrained(directory)  # preprocessor_config.json
    (directory / "processor_config.json").write_text(json.dumps({"processor_class": PROCESSOR_CLASS}, indent=2) + "\n")
    return ProcessorSpec.from_parts(tokenizer, image_processor, image_size)


def load_processor_parts(directory: str | Path) -> tuple[Any, Any]:
    """``(tokenizer, image_processor)`` from a folder written by ``save_processor``, offline."""
    from transformers import AutoImageProcessor, AutoTokenizer

    directory = str(directory)
    return (
        AutoTokenizer.from_pretrained(directory, local_files_only=True),
        AutoImageProcessor.from_pretrained(directory, local_files_only=True),
    )
