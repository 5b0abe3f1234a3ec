"""Which tensor / pipeline degrees a model can be split into: checked before any work, with the valid ones.

Tensor parallelism splits the attention heads, so TP must divide them. The key/value heads (Megatron's query
groups) are split too when TP divides them; when TP is a multiple of them instead (2 or 4 KV heads at TP=8,
as 72B-class models are run), each KV head is shared by ``TP / num_kv_heads`` ranks. Megatron-Core does that
itself (``megatron/core/transformer/attention.py``, ``num_query_groups < world_size``): the fused q/k/v weight
stays one contiguous split over the ranks (the bridge's ``QKV`` layout, unchanged), each rank all-gathers the
q/k/v activations and keeps its KV group and its ``heads / TP`` query heads; the all-gather's backward is a
reduce-scatter, so a shared K/V row gets the gradient of every query head that reads it. No weight is
stored twice, so neither the exporter nor a checkpoint has copies to remove, and checkpoints reshard between
TP below and above the KV head count. One more condition then: the K and V rows, ``2 x kv_heads x head_dim``,
must split evenly over the ranks (Megatron's column-parallel split of the fused tensor).
"""

from __future__ import annotations

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.config import ParallelConfig


def tensor_degree_problem(tp: int, *, num_attention_heads: int, num_key_value_heads: int, head_dim: int) -> str | None:
    """Why ``tp`` cannot split this attention, or ``None`` when it can."""
    heads, kv = num_attention_heads, num_key_value_heads
    if heads % tp:
        return f"tensor_degree={tp} must divide the {heads} attention heads"
    if kv % tp and tp % kv:
        return (
            f"tensor_degree={tp} must divide the {kv} key/value heads or be a multiple of them "
            f"(each key/value head is then shared by tensor_degree / {kv} ranks)"
        )
    if tp > kv and (2 * kv * head_dim) % tp:
        return (
            f"tensor_degree={tp} must divide the {2 * kv * head_dim} key and value rows "
            f"(2 x {kv} key/value heads x head_dim {head_dim}) of the fused q/k/v projection"
        )
    return None


def valid_tensor_degrees(*, num_attention_heads: int, num_key_value_heads: int, head_dim: int) -> list[int]:
    """Every TP degree the attention can be split into (all divide the attention heads)."""
    dims = {
        "num_attention_heads": num_attention_heads,
        "num_key_value_heads": num_key_value_heads,
        "head_dim": head_dim,
    }
    return [tp for tp in range(1, num_attention_heads + 1) if tensor_degree_problem(tp, **dims) is None]


def check_parallel_layout(
    parallel: ParallelConfig, *, num_layers: int, num_attention_heads: int, num_key_value_heads: int, head_dim: int
) -> None:
    """Refuse a layout the model cannot be split into; the message names the number and lists the valid degrees."""
    dims = {
        "num_attention_heads": num_attention_heads,
        "num_key_value_heads": num_key_value_heads,
        "head_dim": head_dim,
    }
    problem = tensor_degree_problem(parallel.tensor_degree, **dims)
    if problem:
        valid = ", ".join(str(tp) for tp in valid_tensor_degrees(**dims))
        raise ConfigError(f"{problem}; valid degrees: {valid}")
    if num_layers % parallel.pipeline_degree:
        valid = ", ".join(str(pp) for pp in range(1, num_layers + 1) if num_layers % pp == 0)
        raise ConfigError(
            f"pipeline_degree={parallel.pipeline_degree} must divide the {num_layers} layers; valid degrees: {valid}"
        )


def check_hf_text_layout(parallel: ParallelConfig, text: object) -> None:
    """``check_parallel_layout`` for a transformers text config (or a parsed ``config.json``'s text part)."""
    get = text.get if isinstance(text, dict) else lambda key, default=None: getattr(text, key, default)
    heads = int(get("num_attention_heads"))
    check_parallel_layout(
        parallel,
        num_layers=int(get("num_hidden_layers")),
        num_attention_heads=heads,
        num_key_value_heads=int(get("num_key_value_heads") or heads),
        head_dim=int(get("head_dim") or int(get("hidden_size")) // heads),
    )
