"""Sampling the answers of an evaluation through any rollout engine, with seeds that ignore batching.

Every sample's seed is ``sample_seed(seed, batch, prompt id, j)`` (``rollout.engine``), a hash that includes
the batch's place in a data stream. Evaluation batches all claim the same place (epoch 0, step 0), so a
question's samples depend only on the seed, the question and the weights: not on the batch size, on which
questions were already cached when an interrupted run resumed, or on what else was evaluated with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Protocol

import torch

from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.evaluation.results import Responses
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.types import RolloutGroup


class Sampler(Protocol):
    """The one method of a ``RolloutEngine`` that an evaluation calls (any engine, a balancer, a stand-in)."""

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]: ...


def eval_sampling(
    base: SamplingConfig, *, n: int, temperature: float, top_p: float, max_new_tokens: int, seed: int
) -> SamplingConfig:
    """The evaluation's sampling: ``base`` (for its stop tokens) with the evaluation's own knobs, no top-k."""
    return dataclasses.replace(
        base, n=n, temperature=temperature, top_p=top_p, top_k=-1, max_new_tokens=max_new_tokens, seed=seed
    )


def generate_responses(
    engine: Sampler, prompts: Sequence[Prompt], sampling: SamplingConfig, keys: Sequence[str] | None = None
) -> list[Responses]:
    """``sampling.n`` responses to each prompt, in order; ``keys[i]`` labels prompt ``i``'s (default: "")."""
    if not prompts:
        return []
    keys = keys if keys is not None else [""] * len(prompts)
    groups = engine.generate(PromptBatch(tuple(prompts), epoch=0, step_index=0), sampling)
    by_id = {group.prompt_id: group for group in groups}
    missing = [p.id for p in prompts if p.id not in by_id]
    if missing:
        raise RuntimeError(f"the engine returned no samples for {len(missing)} prompts, e.g. {missing[:3]}")
    return [Responses.from_group(by_id[p.id], key) for p, key in zip(prompts, keys, strict=True)]


def generation_key(model_fingerprint: str, sampling: SamplingConfig, prompt: Prompt) -> str:
    """What a question's samples depend on, hashed: the model, the sampling and the encoded prompt.

    The prompt enters as its token ids, rope ids and image patches, so any change to the data, the template,
    the tokenizer or the image processing gives another key: a cache never answers a different question.
    """
    digest = hashlib.blake2b(digest_size=16)
    header = {"model": model_fingerprint, "sampling": sampling.to_dict(), "id": prompt.id}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for tensor in (prompt.input_ids, prompt.position_ids, prompt.pixel_values, prompt.image_grid_thw):
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(_tensor_bytes(tensor))
    digest.update(str(prompt.rope_delta).encode())
    return digest.hexdigest()


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    # Through uint8: numpy has no bfloat16, and the raw bytes are what identifies the values.
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
