"""SGLang's ``/generate`` wire format (0.5.23, ``shared/sglang-api.md`` §1): both directions, one place.

The client builds one request per sample (n=1, its own ``rid`` and seed: slime's recommendation) and
reads SGLang's response into a ``Rollout``; ``megatron-mmupt serve`` parses the same requests and writes the
same responses, so the client is tested against the format, not against a private variant.

    request:  {"input_ids" | "text", "image_data", "sampling_params": {...}, "return_logprob": true,
               "logprob_start_len": -1, "rid": "..."}
    response: {"text", "output_ids", "meta_info": {"id", "finish_reason": {"type", ...}, "prompt_tokens",
               "completion_tokens", "weight_version", "output_token_logprobs": [[logprob, id, null], ...]}}

Prompts with images go as ``text`` (the rendered chat with one ``<|image_pad|>`` per image) plus the images,
as slime sends them: SGLang expands the pads itself from its own image processing; text-only prompts go as
``input_ids``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.rollout.engine import EngineError, SamplingConfig
from megatron_mmupt.rollout.types import FinishReason, Rollout

SAMPLING_KEYS_SUPPORTED = (
    "max_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_token_ids",
    "sampling_seed",
    "n",
    "logit_bias",
    "skip_special_tokens",
    "no_stop_trim",
    "spaces_between_special_tokens",
)
"""``sampling_params`` keys that the client sends and ``serve`` honours."""
SAMPLING_KEYS_AT_DEFAULT = {
    "min_p": 0.0,
    "min_new_tokens": 0,
    "ignore_eos": False,
    "repetition_penalty": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "stop": None,
    "json_schema": None,
    "regex": None,
    "ebnf": None,
    "custom_params": None,
}
"""Other SGLang ``sampling_params`` keys: ``serve`` accepts them only at these (SGLang's default) values."""


def generate_request(
    prompt: Prompt,
    *,
    rid: str,
    sampling: SamplingConfig,
    image_data: list[str],
    seed: int | None,
    logit_bias: dict[str, float] | None,
) -> dict[str, Any]:
    """The ``/generate`` body of one sample of ``prompt`` (``image_data``: one data URI per image)."""
    params: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "stop_token_ids": list(sampling.stop_token_ids),
        "skip_special_tokens": True,
        "no_stop_trim": False,
    }
    if seed is not None:
        params["sampling_seed"] = seed  # honoured by SGLang only with --enable-deterministic-inference
    if logit_bias:
        params["logit_bias"] = logit_bias
    body: dict[str, Any] = {"sampling_params": params, "return_logprob": True, "logprob_start_len": -1, "rid": rid}
    if prompt.num_images:
        body["text"] = prompt.text
        body["image_data"] = image_data
    else:
        body["input_ids"] = prompt.input_ids.tolist()
    return body


def rollout_from_response(response: dict[str, Any]) -> Rollout:
    """A ``Rollout`` from one response object; token ids and log-probs from ``output_token_logprobs``."""
    meta = response.get("meta_info") or {}
    entries = meta.get("output_token_logprobs")
    if entries is None:
        raise EngineError(f"response {meta.get('id')!r} has no output_token_logprobs; was return_logprob sent?")
    token_ids = tuple(int(e[1]) for e in entries)
    output_ids = response.get("output_ids")
    if output_ids is not None and tuple(output_ids) != token_ids:
        raise EngineError(f"response {meta.get('id')!r}: output_ids and output_token_logprobs disagree")
    finish = (meta.get("finish_reason") or {}).get("type", FinishReason.ABORT.value)
    version = meta.get("weight_version")
    return Rollout(
        response_text=response.get("text", ""),
        finish_reason=FinishReason(finish),
        response_token_ids=token_ids,
        rollout_logprobs=tuple(float(e[0]) for e in entries),
        weight_version=int(version) if isinstance(version, str) and version.isdigit() else None,
    )


# --- the server's side ------------------------------------------------------------------------------


class RequestError(ValueError):
    """A request the server refuses with HTTP 400; ``body`` is what it answers."""

    def __init__(self, message: str, *, contract: bool = False) -> None:
        super().__init__(message)
        # SGLang's contract check answers {"error": "..."}, a failure while handling {"error": {"message": ...}}.
        self.body = {"error": message} if contract else {"error": {"message": message}}


@dataclasses.dataclass(frozen=True, slots=True)
class GenerateItem:
    """One sample asked for by a ``/generate`` body (a batch or ``n > 1`` asks for several)."""

    rid: str
    input_ids: tuple[int, ...] | None
    text: str | None
    images: tuple[str, ...]
    sampling: SamplingConfig
    seed: int | None
    logit_bias: tuple[tuple[int, float], ...]
    return_logprob: bool
    skip_special_tokens: bool
    no_stop_trim: bool

    @property
    def prompt_key(self) -> tuple:
        """Equal for samples of the same prompt: they share one prefill."""
        return (self.input_ids, self.text, self.images)


def finish_reason_json(rollout: Rollout, max_new_tokens: int) -> dict[str, Any]:
    """SGLang's ``meta_info.finish_reason`` (``schedule_batch.py:FINISH_*.to_json``)."""
    if rollout.finish_reason is FinishReason.STOP:
        return {"type": "stop", "matched": rollout.response_token_ids[-1]}
    if rollout.finish_reason is FinishReason.LENGTH:
        return {"type": "length", "length": max_new_tokens}
    return {"type": "abort", "message": "aborted by pause_generation", "status_code": None, "err_type": None}


def generate_response(
    item: GenerateItem, rollout: Rollout, *, text: str, prompt_tokens: int, weight_version: int, latency_s: float
) -> dict[str, Any]:
    """The response object of one sample, fields as SGLang 0.5.23 writes them."""
    ids = list(rollout.response_token_ids)
    meta: dict[str, Any] = {
        "id": item.rid,
        "finish_reason": finish_reason_json(rollout, item.sampling.max_new_tokens),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(ids),
        "cached_tokens": 0,
        "weight_version": str(weight_version),
        "e2e_latency": latency_s,
    }
    if item.return_logprob:
        meta["input_token_logprobs"] = []
        meta["output_token_logprobs"] = [[lp, t, None] for lp, t in zip(rollout.rollout_logprobs, ids, strict=True)]
        meta["output_token_logprobs_length"] = len(ids)
    return {"text": text, "output_ids": ids, "meta_info": meta}
