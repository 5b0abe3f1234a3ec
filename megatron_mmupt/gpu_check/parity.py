"""Logit parity of the bf16 Megatron model (local spec, as the actor builds it) against transformers.

The batch is the parity tools' (``actor/megatron/parity.py:parity_batch``): one prompt with an image, one
text-only, right-padded. The Megatron side is the actor's frozen model (``trainable=False``: bf16 weights
loaded through the bridge, inside ``Float16Module``); the transformers side is the family's class in fp32 and
then in bf16, on the same device. bf16 alone moves logits by a few hundredths at these sizes, so the verdict
compares like with like: Megatron's distance from the fp32 reference must stay within a few times the
distance of transformers' own bf16 run from it. A real mismatch (a wrong name map, rope, norm) is off by the
logits' own scale.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.gpu_check.actors import ActorContext, build_actor
from megatron_mmupt.gpu_check.workload import Workload, device_name

NOISE_FACTOR = 4.0
"""Megatron's mean error vs fp32 may be this many times transformers' own bf16 error (plus ``FLOOR``)."""
FLOOR = 1e-2


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def megatron_logits(ctx: ActorContext, batch: dict[str, Any]) -> torch.Tensor:
    """``(B, S, V_padded)`` fp32 logits of the actor's frozen bf16 model."""
    from megatron.core.transformer.module import Float16Module

    from megatron_mmupt.actor.megatron.forward import forward_logits
    from megatron_mmupt.algorithm.config import AlgorithmConfig

    groups = ctx.parallel_groups()
    actor = build_actor(ctx.workload, ctx.model_dir, groups, AlgorithmConfig(), trainable=False)
    assert isinstance(actor.model, Float16Module), "a bf16 actor runs inside Megatron's Float16Module"
    if actor.device != ctx.workload.device:  # the actor places its models itself; the check never moves them
        raise RuntimeError(f"the actor computes on {actor.device}, the check's device is {ctx.workload.device}")
    outputs = forward_logits(actor.model, [_to(batch, actor.device)], groups)
    assert outputs is not None  # one stage: it is the last
    return outputs[0].float()


@torch.no_grad()
def transformers_logits(model_dir: Path, batch: dict[str, Any], workload: Workload) -> dict[str, torch.Tensor]:
    """Logits of transformers' model in fp32 and in bf16 (the same weights), eager attention."""
    from megatron_mmupt.actor.megatron.model_provider import load_hf_config
    from megatron_mmupt.models.families import family_of

    config = load_hf_config(model_dir)
    model = (
        family_of(config)
        .hf_model_class()
        .from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager")
    )
    model.to(workload.device).eval()
    inputs = _to(batch, workload.device)
    args = {
        "input_ids": inputs["input_ids"],
        "image_grid_thw": inputs["image_grid_thw"],
        "mm_token_type_ids": (inputs["input_ids"] == config.image_token_id).int(),
    }
    logits = {"fp32": model(pixel_values=inputs["pixel_values"], **args).logits.float()}
    model.to(torch.bfloat16)
    logits["bf16"] = model(pixel_values=inputs["pixel_values"].bfloat16(), **args).logits.float()
    del model
    return logits


def _distance(ours: torch.Tensor, reference: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """Max and mean ``|ours - reference|`` over real positions and the checkpoint's vocabulary."""
    diff = (ours[..., : reference.shape[-1]] - reference)[real].abs()
    return float(diff.max()), float(diff.mean())


def parity_section(ctx: ActorContext) -> tuple[dict[str, Any], list[str]]:
    from megatron_mmupt.actor.megatron.parity import parity_batch

    batch, real = parity_batch(ctx.model_dir)
    ours = megatron_logits(ctx, batch)
    real = real.to(ctx.workload.device)
    gc.collect()
    reference = transformers_logits(ctx.model_dir, batch, ctx.workload)
    max_diff, mean_diff = _distance(ours, reference["bf16"], real)
    ours_max, ours_mean = _distance(ours, reference["fp32"], real)
    noise_max, noise_mean = _distance(reference["bf16"], reference["fp32"], real)
    figures = {
        "device": device_name(ctx.workload),
        "dtype": "bfloat16",
        "batch": list(batch["input_ids"].shape),
        "real_tokens": int(real.sum()),
        "vocab": int(reference["fp32"].shape[-1]),
        "max_abs_logit_diff": max_diff,
        "mean_abs_logit_diff": mean_diff,
        "megatron_max_abs_diff_vs_fp32": ours_max,
        "megatron_mean_abs_diff_vs_fp32": ours_mean,
        "hf_bf16_max_abs_diff_vs_fp32": noise_max,
        "hf_bf16_mean_abs_diff_vs_fp32": noise_mean,
        "logit_abs_max": float(reference["fp32"][real].abs().max()),
    }
    del ours, reference
    if ctx.workload.mode == "gpu":
        torch.cuda.empty_cache()
    bound = NOISE_FACTOR * noise_mean + FLOOR
    problems = []
    if not ours_mean <= bound:  # also catches NaN
        problems.append(
            f"Megatron's mean |logit - fp32 reference| is {ours_mean:.3g}, above {NOISE_FACTOR:g} x transformers' own "
            f"bf16 error ({noise_mean:.3g}) + {FLOOR:g}"
        )
    return figures, problems
