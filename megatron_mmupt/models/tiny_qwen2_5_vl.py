"""The demo model: a tiny Qwen2.5-VL (same architecture, ~0.8 M parameters) as a Hugging Face folder.

Everything downstream treats it like a real checkpoint: ``create_model_folder`` writes ``config.json``,
``model.safetensors`` and the processor files of the demo task next to them, so the rollout engines,
the Megatron bridge and the converters read it through the same code paths as Qwen2.5-VL-7B. Sizes
follow the probe that showed the demo task is learnable on CPU (``docs/data.md``, "The demo task").
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive
from megatron_mmupt.utils.atomic import atomic_write_text

PROCESSOR_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
)


@dataclasses.dataclass(kw_only=True, slots=True)
class TinyQwen2_5_VLConfig(ConfigNode):
    """Sizes of the demo model (language model and vision tower)."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    mrope_section: tuple[int, int, int] = (4, 6, 6)
    """Rotary dims per axis (temporal, height, width); they sum to head_dim / 2, as Qwen2.5-VL's 16/24/24."""
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    vocab_multiple: int = 64
    """The embedding has the tokenizer's size rounded up to this (padded rows are never sampled)."""
    vision_hidden_size: int = 64
    vision_intermediate_size: int = 128
    vision_depth: int = 2
    vision_num_heads: int = 2
    max_position_embeddings: int = 2048

    def __post_init__(self) -> None:
        for key in ("hidden_size", "intermediate_size", "num_layers", "num_attention_heads", "vision_depth"):
            check_positive(key, getattr(self, key))
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"hidden_size={self.hidden_size} must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError("num_attention_heads must be a multiple of num_key_value_heads")
        head_dim = self.hidden_size // self.num_attention_heads
        if sum(self.mrope_section) * 2 != head_dim:
            raise ConfigError(f"mrope_section={self.mrope_section} must sum to head_dim / 2 = {head_dim // 2}")


def hf_config(sizes: TinyQwen2_5_VLConfig, spec: dict[str, int]) -> Any:
    """``Qwen2_5_VLConfig`` of the demo model; ``spec`` is the demo processor's ``ProcessorSpec.to_dict()``."""
    from transformers import Qwen2_5_VLConfig

    vocab = sizes.vocab_multiple * math.ceil(spec["vocab_size"] / sizes.vocab_multiple)
    mrope = list(sizes.mrope_section)
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=vocab, hidden_size=sizes.hidden_size, intermediate_size=sizes.intermediate_size,
            num_hidden_layers=sizes.num_layers, num_attention_heads=sizes.num_attention_heads,
            num_key_value_heads=sizes.num_key_value_heads, max_position_embeddings=sizes.max_position_embeddings,
            tie_word_embeddings=sizes.tie_word_embeddings,
            # Only rope_parameters: a legacy rope_scaling entry makes transformers 5.x reset rope_theta to 1e6.
            rope_parameters={"rope_type": "default", "rope_theta": sizes.rope_theta, "mrope_section": mrope},
            bos_token_id=None, eos_token_id=spec["eos_token_id"], pad_token_id=spec["pad_token_id"],
        ),
        vision_config=dict(
            depth=sizes.vision_depth, hidden_size=sizes.vision_hidden_size,
            intermediate_size=sizes.vision_intermediate_size, num_heads=sizes.vision_num_heads,
            out_hidden_size=sizes.hidden_size, patch_size=spec["patch_size"], spatial_merge_size=spec["merge_size"],
            temporal_patch_size=spec["temporal_patch_size"], window_size=56, fullatt_block_indexes=[1], in_channels=3,
        ),
        image_token_id=spec["image_token_id"], video_token_id=spec["video_token_id"],
        vision_start_token_id=spec["vision_start_token_id"], vision_end_token_id=spec["vision_end_token_id"],
        tie_word_embeddings=sizes.tie_word_embeddings,
    )  # fmt: skip


def create_model_folder(
    out: str | Path, processor_dir: str | Path, sizes: TinyQwen2_5_VLConfig | None = None, seed: int = 0
) -> Path:
    """A randomly initialized demo model saved as an HF folder with the processor files beside it."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    spec = processor_spec(processor_dir)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(hf_config(sizes or TinyQwen2_5_VLConfig(), spec))
    staging = stage_model_folder(model, out, processor_dir)
    atomic_write_text(staging / "demo_model.json", json.dumps({"seed": seed, "processor": spec}, indent=2) + "\n")
    return publish_model_folder(staging, out)


def processor_spec(processor_dir: str | Path) -> dict[str, int]:
    """The token ids and image sizes the demo model's config must use (``dataset_info.json`` of the demo data)."""
    spec_path = Path(processor_dir).parent / "dataset_info.json"
    if not spec_path.is_file():
        raise ConfigError(f"{spec_path} not found; create the demo data first: megatron-mmupt demo-data --out DIR")
    return json.loads(spec_path.read_text())["processor"]


def stage_model_folder(model: Any, out: str | Path, processor_dir: str | Path) -> Path:
    """Save ``model`` and the processor files to ``.{out.name}.partial`` beside ``out``; returns that folder.

    Add files to it, then ``publish_model_folder``: readers of ``out`` never see a half-written model.
    """
    out, processor_dir = Path(out), Path(processor_dir)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    for name in PROCESSOR_FILES:
        if (processor_dir / name).is_file():
            shutil.copy2(processor_dir / name, staging / name)
    return staging


def publish_model_folder(staging: Path, out: str | Path) -> Path:
    """Replace ``out`` by the staged folder (a rename; the old folder is removed first)."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out
