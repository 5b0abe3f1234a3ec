"""The model's text and image processors, loaded from a Hugging Face model folder.

We load the tokenizer (``AutoTokenizer``, which carries the chat template) and the image processor
(``AutoImageProcessor``) separately rather than the combined ``AutoProcessor``: transformers 5.x cannot
build ``Qwen2_5_VLProcessor`` without torchvision (its video processor needs it), which CPU-only torch
installs lack. The one thing the combined processor adds, expanding each ``<|image_pad|>`` to the image's
number of merged patches, is done by ``encoder.PromptEncoder`` and checked there.

A text-only model (Qwen2 / Qwen2.5 text checkpoints) has a tokenizer and no image processor
(``preprocessor_config.json``): its ``Processors`` have ``image_processor=None``, and the encoder refuses rows
with images.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import ConfigError

IMAGE_PROCESSOR_FILE = "preprocessor_config.json"
QWEN_VL_TOKENS = {"image": "<|image_pad|>", "vision_start": "<|vision_start|>", "vision_end": "<|vision_end|>"}
"""Qwen2-VL / Qwen2.5-VL vision token strings."""


@dataclasses.dataclass(frozen=True)
class Processors:
    """What turning an ``Example`` into model inputs needs from the model folder.

    Attributes:
        tokenizer: the model's tokenizer, with its chat template.
        image_processor: transformers' Qwen2-VL image processor (resize, normalize, patchify); ``None`` for a
            text-only model.
        image_token_id: id of ``<|image_pad|>`` (``None`` for a text-only model).
        merge_size: spatial merge of the vision tower (image tokens = t*h*w patches / merge_size^2; ``None``
            for a text-only model).
    """

    tokenizer: Any
    image_processor: Any | None
    image_token_id: int | None
    merge_size: int | None

    @property
    def has_vision(self) -> bool:
        return self.image_processor is not None

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def special_token_strings(self) -> list[str]:
        """Every special/added token string: they must never reach the tokenizer from dataset text."""
        added = [t.content for t in self.tokenizer.added_tokens_decoder.values()]
        return sorted(set(added) | set(self.tokenizer.all_special_tokens), key=len, reverse=True)


def load_processors(path: str | os.PathLike) -> Processors:
    """Load from a local folder (offline) or a hub name; errors name the folder and what is missing.

    A local folder without ``preprocessor_config.json`` is a text-only model's: no image processor.
    """
    from transformers import AutoImageProcessor, AutoTokenizer

    folder = Path(path)
    if not folder.is_dir() and (folder.is_absolute() or str(path).startswith(".") or folder.suffix):
        raise ConfigError(f"processor folder {path} does not exist; pass the model folder (with tokenizer.json)")
    text_only = folder.is_dir() and not (folder / IMAGE_PROCESSOR_FILE).is_file()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        image_processor = None if text_only else AutoImageProcessor.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load the tokenizer and image processor from {path}: {e}") from None
    if not tokenizer.chat_template:
        raise ConfigError(f"the tokenizer in {path} has no chat template; a chat model folder is needed")
    if image_processor is None:
        return Processors(tokenizer, None, None, None)
    image_token_id = tokenizer.convert_tokens_to_ids(QWEN_VL_TOKENS["image"])
    if image_token_id is None or image_token_id == tokenizer.unk_token_id:
        raise ConfigError(
            f"the tokenizer in {path} has no {QWEN_VL_TOKENS['image']} token: not a Qwen2-VL family model"
        )
    merge_size = getattr(image_processor, "merge_size", None)
    if not merge_size:
        raise ConfigError(f"the image processor in {path} ({type(image_processor).__name__}) has no merge_size")
    return Processors(tokenizer, image_processor, int(image_token_id), int(merge_size))
