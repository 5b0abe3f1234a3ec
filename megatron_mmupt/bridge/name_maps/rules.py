"""What a family's name map is made of: ``Rule``s (one Megatron parameter <-> its HF tensors) in a ``NameMap``.

Megatron names are those of the model wrapper ``actor.megatron.qwen2_5_vl.Qwen2_5_VLModel`` (``language_model.``
for the decoder, ``visual.`` for a vision tower); ``{i}`` is the global layer index. HF names are those of the
original checkpoints on the hub, which transformers 5.x still writes (``model.layers.N...``, ``visual...``,
``lm_head``) and SGLang loads.
"""

from __future__ import annotations

import dataclasses

from megatron_mmupt.bridge.transforms import Layout


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    megatron: str
    hf: tuple[str, ...]
    layout: Layout


@dataclasses.dataclass(frozen=True, slots=True)
class NameMap:
    """The weight names of one model family."""

    layer_rules: dict[str, tuple[Rule, ...]]
    """Rules of one decoder layer, by layer spec (``local``, ``te``)."""
    global_rules: tuple[Rule, ...]
    """Rules outside the decoder layers (embedding, final norm, output layer)."""
    vision_prefix: tuple[str, str] | None
    """(Megatron prefix, HF prefix) of the vision tower, whose names below it are identical and whose layout is
    replicated; ``None`` for a text-only family (a ``visual.`` parameter is then unmapped)."""


TIED_HF_NAME, EMBEDDING_HF_NAME = "lm_head.weight", "model.embed_tokens.weight"
"""With tied embeddings ``lm_head.weight`` is absent from HF checkpoints (some store a copy) and
``output_layer.weight`` is absent from Megatron's first stage (a copy lives on the last stage when PP > 1)."""
IGNORED_HF_NAMES = ("rotary_emb.inv_freq",)
"""Checkpoint entries that are buffers recomputed from the config, not weights."""
