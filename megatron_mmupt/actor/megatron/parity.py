"""Logit parity between the Megatron model (loaded through the bridge) and transformers, at any TP/PP.

Both models read the same Hugging Face folder and run on the same batch: two prompts encoded by the data
stage from the folder's own processor files (one with a generated image, one text-only; two text prompts
for a text-only model), right-padded to one length. Only real (unpadded) positions are compared. The
transformers model is the family's class (``models.families``: the architecture ``config.json`` names).
Run by ``tools/check_parity.py`` and the tests.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.actor.megatron.distributed import ParallelGroups, local_device
from megatron_mmupt.actor.megatron.forward import forward_logits
from megatron_mmupt.actor.megatron.model_provider import build_model, load_hf_config, move_to_device
from megatron_mmupt.bridge.hf_checkpoint import HFCheckpoint
from megatron_mmupt.bridge.importer import load_hf_weights
from megatron_mmupt.models.families import family_of
from megatron_mmupt.parallel.config import ParallelConfig


def parity_batch(model_dir: str | Path) -> tuple[dict[str, Any], torch.Tensor]:
    """One right-padded micro-batch and its ``(B, S)`` mask of real tokens, from the folder's processor."""
    from PIL import Image, ImageDraw

    from megatron_mmupt.data.encoder import PromptEncoder
    from megatron_mmupt.data.images import ImageConfig
    from megatron_mmupt.data.processing import load_processors
    from megatron_mmupt.data.prompt_batch import PromptBatch
    from megatron_mmupt.data.prompt_renderer import PromptConfig
    from megatron_mmupt.data.types import Example

    processors = load_processors(model_dir)
    image = Image.new("RGB", (112, 84), "white")
    ImageDraw.Draw(image).ellipse((20, 10, 70, 60), fill=(200, 30, 30))
    png = io.BytesIO()
    image.save(png, format="PNG")
    encoder = PromptEncoder(processors, PromptConfig(), ImageConfig())
    first = (
        Example("image", "<image>How many red circles are there?", images=(png.getvalue(),))
        if processors.has_vision
        else Example("long", "How many red circles are there in a row of five red and two blue circles?")
    )
    prompts = (encoder.encode(first), encoder.encode(Example("text", "What is 2 + 3?")))
    inputs = PromptBatch(prompts).collate(processors.pad_token_id, padding_side="right")
    batch = {k: inputs[k] for k in ("input_ids", "position_ids", "pixel_values", "image_grid_thw")}
    return batch, inputs["attention_mask"].bool()


def megatron_logits(
    model_dir: str | Path, parallel: ParallelConfig, groups: ParallelGroups, batch: dict[str, Any], spec: str = "local"
) -> torch.Tensor | None:
    """``(B, S, V_padded)`` logits in host memory on the last pipeline stage (every TP rank), ``None`` elsewhere.

    The model and the batch run on this rank's device (``distributed.local_device``)."""
    hf_config = load_hf_config(model_dir)
    model = build_model(hf_config, parallel, groups, spec=spec).eval()
    num_layers = (
        hf_config.text_config.num_hidden_layers if hasattr(hf_config, "text_config") else hf_config.num_hidden_layers
    )
    load_hf_weights(
        model,
        HFCheckpoint(model_dir),
        hf_config,
        spec=spec,
        tp_rank=groups.tp_rank,
        tp_size=groups.tp_size,
        layer_offset=groups.pp_rank * num_layers // groups.pp_size,
    )
    device = local_device()
    model = move_to_device(model, device)
    on_device = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    outputs = forward_logits(model, [on_device], groups)
    return outputs[0].cpu() if outputs is not None else None


@torch.no_grad()
def transformers_logits(model_dir: str | Path, batch: dict[str, Any]) -> torch.Tensor:
    config = load_hf_config(model_dir)
    family = family_of(config)
    model = family.hf_model_class().from_pretrained(str(model_dir), attn_implementation="eager").eval()
    input_ids = batch["input_ids"]
    if not family.is_multimodal:  # right-padded rows start at 0: transformers' default positions are ours
        return model(input_ids=input_ids).logits
    return model(
        input_ids=input_ids,
        pixel_values=batch["pixel_values"],
        image_grid_thw=batch["image_grid_thw"],
        mm_token_type_ids=(input_ids == config.image_token_id).int(),
    ).logits


def max_abs_difference(ours: torch.Tensor, reference: torch.Tensor, real: torch.Tensor) -> float:
    """Largest ``|ours - reference|`` over real positions and the checkpoint's vocabulary (padding rows cut)."""
    vocab = reference.shape[-1]
    return float((ours[..., :vocab] - reference)[real].abs().max())
