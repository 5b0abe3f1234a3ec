"""Qwen2 / Qwen2-VL / Qwen2.5-VL: Megatron parameter names <-> Hugging Face checkpoint names, declaratively.

Each ``Rule`` maps one Megatron parameter (of the wrapper ``actor.megatron.qwen2_5_vl.Qwen2_5_VLModel``) to the
HF checkpoint tensor(s) it is made of and the tensor-parallel layout that relates them. ``{i}`` is the global
layer index. HF names are those of the original checkpoints on the hub, which transformers 5.x still writes
(``model.layers.N...``, ``visual...``, ``lm_head``) and SGLang loads. The vision tower keeps its HF names under
``visual.``: one prefix rule, replicated. Two tables cover the two layer specs: the Transformer Engine spec
fuses each RMSNorm into the linear that follows it.
"""

from __future__ import annotations

import dataclasses

from megatron_mmupt.bridge.transforms import Layout


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    megatron: str
    hf: tuple[str, ...]
    layout: Layout


_ATTN = "model.layers.{i}.self_attn"
_MLP = "model.layers.{i}.mlp"
_LAYER = "language_model.decoder.layers.{i}"

_COMMON_LAYER_RULES = (
    Rule(f"{_LAYER}.self_attention.linear_qkv.weight", (f"{_ATTN}.q_proj.weight", f"{_ATTN}.k_proj.weight", f"{_ATTN}.v_proj.weight"), Layout.QKV),
    Rule(f"{_LAYER}.self_attention.linear_qkv.bias", (f"{_ATTN}.q_proj.bias", f"{_ATTN}.k_proj.bias", f"{_ATTN}.v_proj.bias"), Layout.QKV),
    Rule(f"{_LAYER}.self_attention.linear_proj.weight", (f"{_ATTN}.o_proj.weight",), Layout.ROW),
    Rule(f"{_LAYER}.mlp.linear_fc1.weight", (f"{_MLP}.gate_proj.weight", f"{_MLP}.up_proj.weight"), Layout.GATE_UP),
    Rule(f"{_LAYER}.mlp.linear_fc2.weight", (f"{_MLP}.down_proj.weight",), Layout.ROW),
)  # fmt: skip

LAYER_RULES = {
    "local": (
        *_COMMON_LAYER_RULES,
        Rule(f"{_LAYER}.input_layernorm.weight", ("model.layers.{i}.input_layernorm.weight",), Layout.REPLICATED),
        Rule(f"{_LAYER}.pre_mlp_layernorm.weight", ("model.layers.{i}.post_attention_layernorm.weight",), Layout.REPLICATED),
    ),
    "te": (
        *_COMMON_LAYER_RULES,
        Rule(f"{_LAYER}.self_attention.linear_qkv.layer_norm_weight", ("model.layers.{i}.input_layernorm.weight",), Layout.REPLICATED),
        Rule(f"{_LAYER}.mlp.linear_fc1.layer_norm_weight", ("model.layers.{i}.post_attention_layernorm.weight",), Layout.REPLICATED),
    ),
}  # fmt: skip
"""Rules of one decoder layer, by layer spec."""

GLOBAL_RULES = (
    Rule("language_model.embedding.word_embeddings.weight", ("model.embed_tokens.weight",), Layout.VOCAB),
    Rule("language_model.decoder.final_layernorm.weight", ("model.norm.weight",), Layout.REPLICATED),
    Rule("language_model.output_layer.weight", ("lm_head.weight",), Layout.VOCAB),
)
"""Rules outside the decoder layers. With tied embeddings ``lm_head.weight`` is absent from HF checkpoints and
``output_layer.weight`` is absent from Megatron's first stage (a copy lives on the last stage when PP > 1)."""

VISION_PREFIX = ("visual.", "visual.")
"""(Megatron prefix, HF prefix) of the vision tower: names below it are identical, the layout replicated."""

TIED_HF_NAME, EMBEDDING_HF_NAME = "lm_head.weight", "model.embed_tokens.weight"
IGNORED_HF_NAMES = ("rotary_emb.inv_freq",)
"""Checkpoint entries that are buffers recomputed from the config, not weights."""
