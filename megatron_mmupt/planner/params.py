"""Parameter counts: the whole model (as Hugging Face stores it) and one GPU's share in the actor's layout.

The actor's layout (``actor/megatron/``): the language model is Megatron-Core's ``GPTModel``, split over TP
(q/k/v, projection and MLP matrices, and the padded vocabulary) and over PP (consecutive layers; the embedding
on the first stage, the final norm and output layer on the last); norms are replicated over TP. The vision
tower is transformers' module, whole on every TP rank of the first pipeline stage.
"""

from __future__ import annotations

import dataclasses

from megatron_mmupt.planner.model_shape import ModelShape, TextShape, VisionShape


def decoder_layer_params(text: TextShape, tensor_degree: int = 1) -> int:
    """One decoder layer on one TP rank: the split matrices (and q/k/v bias) / TP, plus the two replicated norms."""
    h, qkv = text.hidden_size, text.q_size + 2 * text.kv_size
    split = qkv * h + qkv + text.q_size * h + 3 * text.intermediate_size * h  # qkv (+bias), proj, fc1 (gate, up), fc2
    return split // tensor_degree + 2 * h


def vision_params(vision: VisionShape) -> int:
    """The whole vision tower: patch embedding, blocks, patch merger (weights and biases, as transformers builds it)."""
    h, f = vision.hidden_size, vision.intermediate_size
    norm = h * (2 if vision.norm_bias else 1)
    mlp = (2 * (h * f + f) if vision.gated_mlp else h * f + f) + f * h + h
    block = 2 * norm + (3 * h * h + 3 * h) + (h * h + h) + mlp
    patch_embed = vision.in_channels * vision.temporal_patch_size * vision.patch_size**2 * h  # Conv3d, no bias
    merged = h * vision.spatial_merge_size**2
    merger = norm + (merged * merged + merged) + (merged * vision.out_hidden_size + vision.out_hidden_size)
    return patch_embed + vision.depth * block + merger


def language_params(text: TextShape) -> int:
    """The whole language model at its checkpoint's vocabulary size."""
    embeddings = text.vocab_size * text.hidden_size * (1 if text.tie_word_embeddings else 2)
    return embeddings + text.num_layers * decoder_layer_params(text) + text.hidden_size


def model_params(shape: ModelShape) -> int:
    return language_params(shape.text) + (vision_params(shape.vision) if shape.vision else 0)


@dataclasses.dataclass(frozen=True, slots=True)
class StageParams:
    """Parameters held by one GPU of one pipeline stage."""

    language: int
    vision: int
    trainable: int
    """Those with gradients and optimizer state (all but a frozen vision tower)."""

    @property
    def total(self) -> int:
        return self.language + self.vision


def stage_params(
    shape: ModelShape, *, tensor_degree: int, pipeline_degree: int, stage: int, padded_vocab: int, freeze_vision: bool
) -> StageParams:
    """One GPU's parameters on pipeline stage ``stage`` (0-based) of the actor.

    A tied output layer still costs a copy on the last stage when PP > 1: Megatron keeps the word embeddings
    there too and all-reduces their gradients with the first stage's.
    """
    text = shape.text
    first, last = stage == 0, stage == pipeline_degree - 1
    vocab_shard = padded_vocab * text.hidden_size // tensor_degree
    language = text.num_layers // pipeline_degree * decoder_layer_params(text, tensor_degree)
    if first:
        language += vocab_shard
    if last:
        language += text.hidden_size  # final norm
        if not text.tie_word_embeddings or pipeline_degree > 1:
            language += vocab_shard
    vision = vision_params(shape.vision) if first and shape.vision else 0
    return StageParams(language=language, vision=vision, trainable=language + (0 if freeze_vision else vision))
