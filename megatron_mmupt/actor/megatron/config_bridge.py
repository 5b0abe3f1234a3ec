"""Hugging Face Qwen2 / Qwen2-VL / Qwen2.5-VL text config -> Megatron-Core ``TransformerConfig``: one explicit function.

Every field that changes the math is mapped by name below (no attribute-copy loop); fields with no
counterpart are checked to hold the value the mapping assumes, so an unexpected checkpoint (a bias on
``o_proj``, a non-SiLU activation, sliding windows) fails here instead of producing wrong logits.
"""

from __future__ import annotations

from typing import Any

import torch

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.models.families import ModelFamily, family_of
from megatron_mmupt.models.parallel_layout import check_hf_text_layout
from megatron_mmupt.parallel.config import ParallelConfig


def text_config(hf_config: Any) -> Any:
    """The language-model part of a (possibly multimodal) HF config."""
    return getattr(hf_config, "text_config", None) or hf_config


def rope_settings(text: Any) -> tuple[float, list[int] | None]:
    """``(rope_theta, mrope_section)``; transformers 5.x keeps them in ``rope_parameters``."""
    params = getattr(text, "rope_parameters", None) or {}
    scaling = getattr(text, "rope_scaling", None) or {}
    theta = params.get("rope_theta", getattr(text, "rope_theta", 10000.0))
    section = params.get("mrope_section") or scaling.get("mrope_section")
    return float(theta), (list(section) if section else None)


def transformer_config(
    hf_config: Any, parallel: ParallelConfig, *, params_dtype: torch.dtype, recompute: str = "none"
) -> Any:
    """The ``TransformerConfig`` of the language model of ``hf_config`` at the given parallel layout.

    ``recompute``: ``none``, ``selective`` (Megatron recomputes the attention core in backward) or ``full``
    (every layer's activations, one layer per checkpoint).
    """
    from megatron.core.transformer.transformer_config import TransformerConfig

    text = text_config(hf_config)
    family = family_of(hf_config)
    _check_supported(text)
    check_hf_text_layout(parallel, text)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return TransformerConfig(
        num_layers=text.num_hidden_layers,
        hidden_size=text.hidden_size,
        ffn_hidden_size=text.intermediate_size,
        num_attention_heads=text.num_attention_heads,
        # Fewer KV heads than TP ranks is fine: Megatron shares each KV head among TP / num_query_groups ranks
        # (models.parallel_layout).
        num_query_groups=text.num_key_value_heads,
        kv_channels=head_dim,
        normalization="RMSNorm",
        layernorm_epsilon=text.rms_norm_eps,
        add_qkv_bias=True,  # Qwen2: bias on q/k/v, none on o_proj and the MLP
        add_bias_linear=False,
        gated_linear_unit=True,
        activation_func=torch.nn.functional.silu,
        mrope_section=mrope_section(family, text, head_dim),
        attention_dropout=0.0,  # RL recomputes log-probs: dropout would make them differ from the rollout's
        hidden_dropout=0.0,
        tensor_model_parallel_size=parallel.tensor_degree,
        pipeline_model_parallel_size=parallel.pipeline_degree,
        pipeline_dtype=params_dtype,
        params_dtype=params_dtype,
        bf16=params_dtype == torch.bfloat16,
        fp16=params_dtype == torch.float16,
        # NOTE: built in host memory, then overwritten from the HF checkpoint (also on the host, as is the
        # transformers vision tower); MegatronActor moves the whole model to its device in one place after that.
        use_cpu_initialization=True,
        apply_rope_fusion=False,  # needs Transformer Engine
        gradient_accumulation_fusion=False,  # needs a CUDA extension
        bias_activation_fusion=False,
        masked_softmax_fusion=False,
        **_recompute_settings(recompute),
    )


def mrope_section(family: ModelFamily, text: Any, head_dim: int) -> list[int]:
    """Rotary dims per position axis (temporal, height, width); they sum to ``head_dim / 2``.

    The wrapper always runs Megatron's 3-D rope on the data stage's ``(3, B, S)`` position ids. A 1-D rope
    family puts every frequency on the first axis, which is plain rope at the given positions (for text the
    three rows are equal anyway).
    """
    if family.rope == "1d":
        return [head_dim // 2, 0, 0]
    _, section = rope_settings(text)
    if not section or sum(section) * 2 != head_dim:
        raise ConfigError(
            f"{family.architecture} needs rope_parameters.mrope_section summing to head_dim / 2 = {head_dim // 2}, "
            f"the config has {section!r}"
        )
    return section


def _recompute_settings(recompute: str) -> dict[str, Any]:
    if recompute == "none":
        return {}
    if recompute == "selective":
        return {"recompute_granularity": "selective"}
    return {"recompute_granularity": "full", "recompute_method": "uniform", "recompute_num_layers": 1}


def _check_supported(text: Any) -> None:
    expectations = {
        "hidden_act": "silu",
        "use_sliding_window": False,
    }
    for key, expected in expectations.items():
        value = getattr(text, key, expected)
        if value != expected:
            raise ConfigError(f"the model's {key}={value!r} is not supported (expected {expected!r})")
    rope_type = (getattr(text, "rope_parameters", None) or {}).get("rope_type", "default")
    if rope_type not in ("default", "mrope"):
        raise ConfigError(f"the model's rope_type={rope_type!r} is not supported (expected 'default' or 'mrope')")
    if getattr(text, "attention_bias", True) is False:
        raise ConfigError("the model has no q/k/v bias; only Qwen2-style attention (bias on q, k, v) is supported")
