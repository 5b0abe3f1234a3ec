"""Hugging Face checkpoint -> this rank's Megatron parameters (any TP/PP layout)."""

from __future__ import annotations

from typing import Any

import torch

from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.name_maps.rules import EMBEDDING_HF_NAME, IGNORED_HF_NAMES, TIED_HF_NAME
from megatron_mmupt.bridge.param_map import ParamMap
from megatron_mmupt.bridge.transforms import AttentionShape, Layout, shard


def attention_shape(hf_config: Any) -> AttentionShape:
    text = getattr(hf_config, "text_config", None) or hf_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return AttentionShape(text.num_attention_heads, text.num_key_value_heads, head_dim)


@torch.no_grad()
def load_hf_weights(
    model: torch.nn.Module,
    checkpoint: HFCheckpoint,
    hf_config: Any,
    *,
    spec: str,
    tp_rank: int,
    tp_size: int,
    layer_offset: int,
) -> set[str]:
    """Copy every parameter of ``model`` (this rank's chunk) from ``checkpoint``; return the HF names read.

    Every Megatron parameter must have a rule and every tensor it needs must exist, with the exact shape the
    layout produces: a wrong checkpoint fails here, naming the tensor, before anything is overwritten.
    """
    param_map, shape = ParamMap.for_config(hf_config, spec), attention_shape(hf_config)
    updates, used = [], set()
    for name, param in model.named_parameters():
        resolved = param_map.resolve(name, layer_offset)
        hf_names = tuple(_source_name(n, checkpoint) for n in resolved.hf)
        tensors = tuple(checkpoint.get(n) for n in hf_names)
        value = shard(tensors, resolved.layout, tp_rank, tp_size, padded_rows=param.shape[0] * tp_size, shape=shape)
        if value.shape != param.shape:
            raise ValueError(
                f"{name}: the checkpoint's {', '.join(hf_names)} give shape {tuple(value.shape)}, the model expects "
                f"{tuple(param.shape)} ({resolved.layout} layout, tp {tp_rank}/{tp_size}); config and weights disagree"
            )
        updates.append((param, value))
        used.update(hf_names)
    for param, value in updates:
        param.copy_(value.to(param.dtype))
    return used


def _source_name(name: str, checkpoint: HFCheckpoint) -> str:
    # Tied embeddings: the output layer's copy (last stage, PP > 1) reads the input embedding.
    if name == TIED_HF_NAME and name not in checkpoint:
        return EMBEDDING_HF_NAME
    return name


def unused_weights(checkpoint: HFCheckpoint, used: set[str]) -> list[str]:
    """Checkpoint tensors no rank read (call with the union over ranks); buffers like ``inv_freq`` excluded."""
    return [n for n in checkpoint.names() if n not in used and not n.endswith(IGNORED_HF_NAMES)]


__all__ = ["Layout", "attention_shape", "load_hf_weights", "unused_weights"]
