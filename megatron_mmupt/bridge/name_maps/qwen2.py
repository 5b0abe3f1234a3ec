"""Qwen2 / Qwen2.5 text models (``Qwen2ForCausalLM``): Megatron parameter names <-> HF checkpoint names.

The Qwen2 decoder is also the language model of Qwen2-VL and Qwen2.5-VL, whose name maps reuse these tables.
Two tables cover the two layer specs: the Transformer Engine spec fuses each RMSNorm into the linear that
follows it (``linear_qkv.layer_norm_weight``, ``linear_fc1.layer_norm_weight``).
"""

from __future__ import annotations

from megatron_mmupt.bridge.name_maps.rules import EMBEDDING_HF_NAME, TIED_HF_NAME, NameMap, Rule
from megatron_mmupt.bridge.transforms import Layout

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
    Rule("language_model.embedding.word_embeddings.weight", (EMBEDDING_HF_NAME,), Layout.VOCAB),
    Rule("language_model.decoder.final_layernorm.weight", ("model.norm.weight",), Layout.REPLICATED),
    Rule("language_model.output_layer.weight", (TIED_HF_NAME,), Layout.VOCAB),
)

NAME_MAP = NameMap(layer_rules=LAYER_RULES, global_rules=GLOBAL_RULES, vision_prefix=None)
