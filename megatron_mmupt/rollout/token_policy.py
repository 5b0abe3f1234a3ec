"""Which tokens may be sampled, and which end a sample: one policy, shared by every engine and the server.

A response must never contain a vision or chat control token: once the policy sampled ``<|image_pad|>``,
the next forward pass failed with "Image features and image tokens do not match" (``shared/env-notes.md``
§9). So every token the tokenizer added (``<|im_start|>``, ``<|vision_start|>``, ``<|image_pad|>``, tool and
FIM tokens, ...) and every padded row of the embedding (rows past the tokenizer's vocabulary, never
trained) is suppressed, except the EOS ids and the request's stop ids, which must stay samplable to end a
response. The local engine masks them in the sampler; SGLang gets the same ids as a ``logit_bias``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch

SUPPRESSED_LOGIT_BIAS = -1.0e9
"""The bias that removes a token in SGLang (``logits + bias``; JSON cannot carry ``-inf``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class TokenPolicy:
    """Token rules of one model.

    Attributes:
        vocab_size: width of the model's logits (the embedding rows, padding included), ``V``.
        eos_token_ids: ids that end a sample (generation config's ``eos_token_id`` and the tokenizer's EOS).
        suppressed_token_ids: ids never sampled: added/special tokens other than EOS, and padded rows.
        pad_token_id: id used to pad batches (never attended to).
    """

    vocab_size: int
    eos_token_ids: tuple[int, ...]
    suppressed_token_ids: tuple[int, ...]
    pad_token_id: int

    def __post_init__(self) -> None:
        if not self.eos_token_ids:
            raise ValueError("the model has no EOS token id; set eos_token_id in its generation_config.json")
        out = [t for t in (*self.eos_token_ids, *self.suppressed_token_ids) if not 0 <= t < self.vocab_size]
        if out:
            raise ValueError(f"token ids {out} lie outside the model's vocabulary of {self.vocab_size}")

    @classmethod
    def from_model_parts(cls, tokenizer: Any, model_config: Any, generation_config: Any | None) -> TokenPolicy:
        """From a tokenizer, the model config (``vocab_size``, possibly under ``text_config``) and its
        generation config (``eos_token_id``: int or list; ``None`` falls back to the tokenizer's EOS)."""
        text_config = getattr(model_config, "text_config", None) or model_config
        vocab_size = int(text_config.vocab_size)
        eos = _as_ids(getattr(generation_config, "eos_token_id", None)) | _as_ids(tokenizer.eos_token_id)
        added = {int(i) for i in tokenizer.added_tokens_decoder} | {int(i) for i in tokenizer.all_special_ids}
        padded = set(range(len(tokenizer), vocab_size))
        suppressed = sorted(((added | padded) - eos) & set(range(vocab_size)))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos)
        return cls(vocab_size, tuple(sorted(eos)), tuple(suppressed), int(pad))

    def stop_ids(self, extra: Iterable[int] = ()) -> tuple[int, ...]:
        """EOS ids plus a request's stop ids, sorted."""
        return tuple(sorted(set(self.eos_token_ids) | set(extra)))

    def suppress_mask(self, stop_token_ids: Iterable[int] = (), device: torch.device | str = "cpu") -> torch.Tensor:
        """``# (V,)`` bool, True where a token may not be sampled (a stop id is always allowed)."""
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[list(self.suppressed_token_ids)] = True
        mask[list(self.stop_ids(stop_token_ids))] = False
        return mask.to(device)

    def logit_bias(self, stop_token_ids: Iterable[int] = ()) -> dict[str, float]:
        """SGLang's ``sampling_params.logit_bias`` that suppresses the same tokens (keys are id strings)."""
        allowed = set(self.stop_ids(stop_token_ids))
        return {str(t): SUPPRESSED_LOGIT_BIAS for t in self.suppressed_token_ids if t not in allowed}


def _as_ids(value: int | list[int] | None) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, int):
        return {value}
    return {int(v) for v in value}


def load_token_policy(model_path: str) -> TokenPolicy:
    """The policy of an HF model folder (tokenizer, ``config.json``, ``generation_config.json`` if any)."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    config = AutoConfig.from_pretrained(model_path)
    try:
        generation = GenerationConfig.from_pretrained(model_path)
    except OSError:  # no generation_config.json: the tokenizer's EOS alone
        generation = None
    return TokenPolicy.from_model_parts(tokenizer, config, generation)
