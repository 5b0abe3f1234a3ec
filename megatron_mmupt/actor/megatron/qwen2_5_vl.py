"""Qwen2.5-VL, Qwen2-VL and text-only Qwen2 on Megatron-Core: transformers' vision tower + Megatron ``GPTModel``.

Why not ``megatron.core.models.multimodal.LLaVAModel``: it calls the language model with
``position_ids=None``, so 3-D rope cannot work. This wrapper is small instead:

* ``visual``: the family's transformers vision tower (``models.families``:
  ``Qwen2_5_VisionTransformerPretrainedModel``, ``Qwen2VisionTransformerPretrainedModel``; none for a text-only
  Qwen2) under its Hugging Face names, replicated on every tensor-parallel rank of the first pipeline stage
  (the pattern of Megatron-Bridge and slime). Its parameters are flagged ``replicated_across_tp``; ``reduce_replicated_grads`` averages their
  gradients over the TP group so the copies never drift (Megatron's own ``average_gradients_across_tp_domain``
  uses ``ReduceOp.AVG``, which gloo lacks).
* ``language_model``: Megatron ``GPTModel(position_embedding_type="mrope")``. On the first stage the token
  embeddings get the image features scattered into the ``<|image_pad|>`` positions, and the result enters the
  decoder as ``decoder_input``; the 3-D position ids (``data.rope``) are passed through unchanged.

Layouts: ``input_ids`` ``(B, S)``, ``position_ids`` ``(3, B, S)``; Megatron's hidden states are ``(S, B, H)``;
the output is ``(B, S, V/tp)`` logits (vocab-parallel) on the last stage, hidden states elsewhere.
"""

from __future__ import annotations

from typing import Any

import torch
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig

REPLICATED_ATTR = "replicated_across_tp"


class Qwen2_5_VLModel(MegatronModule):
    """The model of every family in ``models.families`` (``visual`` is ``None`` for text-only Qwen2)."""

    def __init__(
        self,
        config: TransformerConfig,
        hf_config: Any,
        layer_spec: ModuleSpec,
        *,
        vocab_size: int,
        pre_process: bool = True,
        post_process: bool = True,
    ) -> None:
        super().__init__(config=config)
        from megatron.core.transformer.enums import ModelType

        from megatron_mmupt.actor.megatron.config_bridge import rope_settings, text_config
        from megatron_mmupt.models.families import family_of

        self.model_type = ModelType.encoder_or_decoder  # read by Megatron's pipeline schedules

        text = text_config(hf_config)
        theta, _ = rope_settings(text)
        self.pre_process, self.post_process = pre_process, post_process
        family = family_of(hf_config)
        self.image_token_id = getattr(hf_config, "image_token_id", None) if family.is_multimodal else None
        self.share_embeddings_and_output_weights = bool(getattr(text, "tie_word_embeddings", False))
        self.language_model = GPTModel(
            config=config,
            transformer_layer_spec=layer_spec,
            vocab_size=vocab_size,
            max_sequence_length=text.max_position_embeddings,
            pre_process=pre_process,
            post_process=post_process,
            share_embeddings_and_output_weights=self.share_embeddings_and_output_weights,
            position_embedding_type="mrope",
            rotary_base=theta,
        )
        self.visual = (
            _vision_tower(family.vision_tower_class(), hf_config, config.params_dtype)
            if (pre_process and family.is_multimodal)
            else None
        )

    def set_input_tensor(self, input_tensor: torch.Tensor | list[torch.Tensor]) -> None:
        """Called by Megatron's pipeline schedules on stages after the first."""
        self.language_model.set_input_tensor(input_tensor)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        image_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(B, S, V/tp)`` on the last stage (or per-token losses with ``labels``); hidden states elsewhere.

        ``attention_mask``: ``None`` means causal, which is exact for right-padded batches (padding comes after
        every real token, so no real token attends to it). ``image_index``: when rows share images, the
        distinct images are passed once and this names, for each image of the rows in order, which of them it is
        (``SequenceBatch.model_inputs``); their features are reused, so gradients add up as if encoded apart.
        """
        decoder_input = self._embed(input_ids, pixel_values, image_grid_thw, image_index) if self.pre_process else None
        return self.language_model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            decoder_input=decoder_input,
            labels=labels,
        )

    def _embed(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None,
        image_grid_thw: torch.Tensor | None,
        image_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        embeddings = self.language_model.embedding(input_ids=input_ids, position_ids=None)  # (S, B, H)
        if pixel_values is None or pixel_values.numel() == 0:
            return embeddings
        if self.visual is None:
            raise ValueError("this model has no vision tower, but pixel_values were given")
        features = self.visual(pixel_values.to(self.visual.dtype), grid_thw=image_grid_thw)
        features = getattr(features, "pooler_output", features)  # (num image tokens, H): merged patches
        if image_index is not None:
            merge = self.visual.spatial_merge_size**2
            per_image = features.split((image_grid_thw.prod(dim=-1) // merge).tolist())
            features = torch.cat([per_image[i] for i in image_index.tolist()])
        mask = (input_ids == self.image_token_id).transpose(0, 1)  # (S, B)
        if int(mask.sum()) != features.shape[0]:
            raise ValueError(
                f"{int(mask.sum())} image tokens in input_ids but {features.shape[0]} image features; "
                "each image must be expanded to t*h*w/merge^2 image tokens (see data.encoder)"
            )
        # Boolean indexing on (B, S) walks prompt after prompt, the order the image features come in.
        embeddings = embeddings.transpose(0, 1).clone()  # (B, S, H)
        embeddings[mask.transpose(0, 1)] = features.to(embeddings.dtype)
        return embeddings.transpose(0, 1).contiguous()

    def sharded_state_dict(self, prefix: str = "", sharded_offsets: tuple = (), metadata: dict | None = None) -> dict:
        """Megatron's sharded checkpoint of the language model, plus the vision tower as replicated tensors."""
        from megatron.core.transformer.utils import make_sharded_tensors_for_checkpoint

        sharded = self.language_model.sharded_state_dict(f"{prefix}language_model.", sharded_offsets, metadata)
        if self.visual is not None:
            visual = {name: tensor for name, tensor in self.visual.state_dict(keep_vars=True).items()}
            sharded.update(make_sharded_tensors_for_checkpoint(visual, f"{prefix}visual.", {}, sharded_offsets))
        return sharded


def _vision_tower(tower_class: type, hf_config: Any, dtype: torch.dtype) -> torch.nn.Module:
    vision_config = hf_config.vision_config
    vision_config._attn_implementation = getattr(hf_config, "_attn_implementation", None) or "sdpa"
    tower = tower_class._from_config(vision_config, dtype=dtype)
    for param in tower.parameters():
        setattr(param, REPLICATED_ATTR, True)
    return tower


def reduce_replicated_grads(model: torch.nn.Module, tp_group: torch.distributed.ProcessGroup | None) -> None:
    """Average the gradients of TP-replicated parameters (the vision tower) over ``tp_group``.

    Every TP rank computes the same vision gradients up to floating-point order; averaging keeps the
    replicas bit-identical after the optimizer step. Works on gloo (SUM, then divide) as on NCCL.
    """
    if tp_group is None or torch.distributed.get_world_size(tp_group) == 1:
        return
    grads = [
        getattr(p, "main_grad", None) if getattr(p, "main_grad", None) is not None else p.grad
        for p in model.parameters()
        if getattr(p, REPLICATED_ATTR, False)
    ]
    grads = [g for g in grads if g is not None]
    if not grads:
        return
    flat = torch._utils._flatten_dense_tensors(grads)
    torch.distributed.all_reduce(flat, group=tp_group)
    flat /= torch.distributed.get_world_size(tp_group)
    for grad, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads), strict=True):
        grad.copy_(synced)
