"""Tiny models of every family in ``models.families`` as Hugging Face folders, for tests and parity checks.

They take the demo model's sizes (``TinyQwen2_5_VLConfig``) and the demo processor's token ids, so the
data stage encodes prompts for all of them alike: Qwen2.5-VL is the demo model itself; Qwen2-VL has its
vision tower (``embed_dim`` wide, a GELU MLP of ``mlp_ratio``, LayerNorms) and the same decoder; text-only
Qwen2 has the decoder alone, 1-D rope, and a folder with the tokenizer but no image processor (as a
Qwen2.5 text checkpoint has).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.models import tiny_qwen2_5_vl
from megatron_mmupt.models.families import FAMILIES
from megatron_mmupt.models.tiny_qwen2_5_vl import (
    TinyQwen2_5_VLConfig,
    processor_spec,
    publish_model_folder,
    stage_model_folder,
)
from megatron_mmupt.utils.atomic import atomic_write_text

IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
"""Processor files a text-only folder leaves out."""


def _text_fields(sizes: TinyQwen2_5_VLConfig, spec: dict[str, int]) -> dict[str, Any]:
    vocab = sizes.vocab_multiple * math.ceil(spec["vocab_size"] / sizes.vocab_multiple)
    return dict(
        vocab_size=vocab, hidden_size=sizes.hidden_size, intermediate_size=sizes.intermediate_size,
        num_hidden_layers=sizes.num_layers, num_attention_heads=sizes.num_attention_heads,
        num_key_value_heads=sizes.num_key_value_heads, max_position_embeddings=sizes.max_position_embeddings,
        tie_word_embeddings=sizes.tie_word_embeddings, bos_token_id=None, eos_token_id=spec["eos_token_id"],
        pad_token_id=spec["pad_token_id"],
    )  # fmt: skip


def qwen2_vl_config(sizes: TinyQwen2_5_VLConfig, spec: dict[str, int]) -> Any:
    from transformers import Qwen2VLConfig

    if sizes.vision_intermediate_size % sizes.vision_hidden_size:
        raise ConfigError("Qwen2-VL's vision MLP width is an integer mlp_ratio x vision_hidden_size")
    rope = {"rope_type": "default", "rope_theta": sizes.rope_theta, "mrope_section": list(sizes.mrope_section)}
    return Qwen2VLConfig(
        text_config={**_text_fields(sizes, spec), "rope_parameters": rope},
        vision_config=dict(
            depth=sizes.vision_depth, embed_dim=sizes.vision_hidden_size, hidden_size=sizes.hidden_size,
            num_heads=sizes.vision_num_heads, mlp_ratio=sizes.vision_intermediate_size // sizes.vision_hidden_size,
            patch_size=spec["patch_size"], spatial_merge_size=spec["merge_size"],
            temporal_patch_size=spec["temporal_patch_size"], in_channels=3,
        ),
        image_token_id=spec["image_token_id"], video_token_id=spec["video_token_id"],
        vision_start_token_id=spec["vision_start_token_id"], vision_end_token_id=spec["vision_end_token_id"],
        tie_word_embeddings=sizes.tie_word_embeddings,
    )  # fmt: skip


def qwen2_config(sizes: TinyQwen2_5_VLConfig, spec: dict[str, int]) -> Any:
    from transformers import Qwen2Config

    rope = {"rope_type": "default", "rope_theta": sizes.rope_theta}
    return Qwen2Config(**_text_fields(sizes, spec), rope_parameters=rope)


CONFIG_BUILDERS = {
    "Qwen2_5_VLForConditionalGeneration": tiny_qwen2_5_vl.hf_config,
    "Qwen2VLForConditionalGeneration": qwen2_vl_config,
    "Qwen2ForCausalLM": qwen2_config,
}
"""architecture -> ``(sizes, processor spec) -> transformers config``; the keys are those of ``FAMILIES``."""


def create_family_folder(
    architecture: str,
    out: str | Path,
    processor_dir: str | Path,
    sizes: TinyQwen2_5_VLConfig | None = None,
    seed: int = 0,
) -> Path:
    """A randomly initialized tiny model of ``architecture`` saved as an HF folder with its processor files."""
    import torch

    if architecture not in CONFIG_BUILDERS:
        raise ConfigError(
            f"no tiny model for architecture {architecture!r}; choose one of: {', '.join(CONFIG_BUILDERS)}"
        )
    family = FAMILIES[architecture]
    spec = processor_spec(processor_dir)
    torch.manual_seed(seed)
    model = family.hf_model_class()(CONFIG_BUILDERS[architecture](sizes or TinyQwen2_5_VLConfig(), spec))
    staging = stage_model_folder(model, out, processor_dir)
    if not family.is_multimodal:
        for name in IMAGE_PROCESSOR_FILES:
            (staging / name).unlink(missing_ok=True)
    record = {"seed": seed, "architecture": architecture, "processor": spec}
    atomic_write_text(staging / "demo_model.json", json.dumps(record, indent=2) + "\n")
    return publish_model_folder(staging, out)
