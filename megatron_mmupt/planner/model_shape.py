"""The sizes of a Qwen2-VL / Qwen2.5-VL model that memory depends on: from a ``config.json`` or a preset.

The planner runs where no model files are (a laptop planning a cluster run), so the published shapes of
Qwen2.5-VL 3B/7B/32B/72B are written down here and chosen by the model's name; a local folder's
``config.json`` always wins over a preset.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from megatron_mmupt.planner.errors import PlanError


@dataclasses.dataclass(frozen=True, slots=True)
class TextShape:
    """The language model (Qwen2 decoder: GQA attention with q/k/v bias, SwiGLU MLP, RMSNorm)."""

    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    head_dim: int
    tie_word_embeddings: bool

    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        """Width of K (and of V): ``num_key_value_heads * head_dim``."""
        return self.num_key_value_heads * self.head_dim


@dataclasses.dataclass(frozen=True, slots=True)
class VisionShape:
    """The vision tower (ViT blocks with fused qkv, then a patch merger into the language model's width)."""

    depth: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    out_hidden_size: int
    gated_mlp: bool
    """Qwen2.5-VL: SwiGLU (gate, up, down); Qwen2-VL: fc1, fc2."""
    norm_bias: bool
    """Qwen2-VL's LayerNorms carry a bias; Qwen2.5-VL's RMSNorms do not."""
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    in_channels: int = 3


@dataclasses.dataclass(frozen=True, slots=True)
class ModelShape:
    name: str
    text: TextShape
    vision: VisionShape | None
    source: str
    """Where the sizes come from: the ``config.json`` path or ``preset``."""


def _qwen2_5_vl(name: str, layers: int, hidden: int, ffn: int, heads: int, kv_heads: int, vocab: int, tied: bool,
                vision_ffn: int) -> ModelShape:  # fmt: skip
    text = TextShape(
        num_layers=layers, hidden_size=hidden, intermediate_size=ffn, num_attention_heads=heads,
        num_key_value_heads=kv_heads, vocab_size=vocab, head_dim=hidden // heads, tie_word_embeddings=tied,
    )  # fmt: skip
    vision = VisionShape(
        depth=32,
        hidden_size=1280,
        intermediate_size=vision_ffn,
        num_heads=16,
        out_hidden_size=hidden,
        gated_mlp=True,
        norm_bias=False,
    )
    return ModelShape(name=name, text=text, vision=vision, source="preset")


PRESETS: dict[str, ModelShape] = {
    # The published config.json of Qwen/Qwen2.5-VL-{3B,7B,32B,72B}-Instruct.
    "3b": _qwen2_5_vl("Qwen2.5-VL-3B", 36, 2048, 11008, 16, 2, 151936, True, 3420),
    "7b": _qwen2_5_vl("Qwen2.5-VL-7B", 28, 3584, 18944, 28, 4, 152064, False, 3420),
    "32b": _qwen2_5_vl("Qwen2.5-VL-32B", 64, 5120, 27648, 40, 8, 152064, False, 3456),
    "72b": _qwen2_5_vl("Qwen2.5-VL-72B", 80, 8192, 29568, 64, 8, 152064, False, 3456),
}
_PRESET_NAME = re.compile(r"qwen2\.5-vl-(\d+)b", re.IGNORECASE)


def resolve_model_shape(model: str) -> ModelShape:
    """The shape of ``actor.model``: its ``config.json`` when it is a local folder, else a preset by name."""
    config_path = Path(model) / "config.json"
    if model and config_path.is_file():
        return from_hf_config(json.loads(config_path.read_text()), name=Path(model).name, source=str(config_path))
    match = _PRESET_NAME.search(Path(model).name)
    if match and match.group(1) + "b" in PRESETS:
        return PRESETS[match.group(1) + "b"]
    raise PlanError(
        f"cannot size actor.model={model!r}: it is not a folder with a config.json, and its name is none of the "
        f"known presets ({', '.join('Qwen2.5-VL-' + k.upper() for k in PRESETS)})",
        fixes=["set actor.model to a local Hugging Face folder (only its config.json is read)"],
    )


def from_hf_config(config: dict[str, Any], *, name: str, source: str) -> ModelShape:
    """A ``ModelShape`` from a Qwen2-VL / Qwen2.5-VL ``config.json`` (text fields nested or at the top level)."""
    text = config.get("text_config") or config
    heads = int(text["num_attention_heads"])
    tied = text.get("tie_word_embeddings", config.get("tie_word_embeddings", False))
    text_shape = TextShape(
        num_layers=int(text["num_hidden_layers"]),
        hidden_size=int(text["hidden_size"]),
        intermediate_size=int(text["intermediate_size"]),
        num_attention_heads=heads,
        num_key_value_heads=int(text.get("num_key_value_heads") or heads),
        vocab_size=int(text["vocab_size"]),
        head_dim=int(text.get("head_dim") or int(text["hidden_size"]) // heads),
        tie_word_embeddings=bool(tied),
    )
    vision = config.get("vision_config")
    return ModelShape(name=name, text=text_shape, vision=_vision_shape(vision) if vision else None, source=source)


def _vision_shape(vision: dict[str, Any]) -> VisionShape:
    common = {
        "depth": int(vision["depth"]),
        "num_heads": int(vision["num_heads"]),
        "patch_size": int(vision.get("patch_size", 14)),
        "spatial_merge_size": int(vision.get("spatial_merge_size", 2)),
        "temporal_patch_size": int(vision.get("temporal_patch_size", 2)),
        "in_channels": int(vision.get("in_channels", vision.get("in_chans", 3))),
    }
    if "embed_dim" in vision:  # Qwen2-VL: hidden_size there is the language model's width
        embed = int(vision["embed_dim"])
        return VisionShape(
            hidden_size=embed,
            intermediate_size=int(embed * float(vision.get("mlp_ratio", 4))),
            out_hidden_size=int(vision["hidden_size"]),
            gated_mlp=False,
            norm_bias=True,
            **common,
        )
    return VisionShape(
        hidden_size=int(vision["hidden_size"]),
        intermediate_size=int(vision["intermediate_size"]),
        out_hidden_size=int(vision["out_hidden_size"]),
        gated_mlp=True,
        norm_bias=False,
        **common,
    )
