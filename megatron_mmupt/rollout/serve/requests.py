"""``serve``'s reading of SGLang ``/generate`` bodies: samples to draw, and the prompts they draw from.

A body names one prompt or a batch (``input_ids`` / ``text`` as one item or a list), per-request or shared
``sampling_params``, and ``image_data``; ``n > 1`` asks for several samples of each prompt. Everything is
checked here, before any work, and refused with HTTP 400 in SGLang's words. Prompts are built as SGLang
builds them: the text is tokenized, each run of ``<|image_pad|>`` (one pad, or an already expanded run) is
expanded to its image's merged patch count from the server's own image processing, and the 3-D rope ids
come from ``data.rope``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import torch

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.data.prompt_batch import Prompt
from megatron_mmupt.data.rope import rope_position_ids
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.sglang.image_codec import load_image_item
from megatron_mmupt.rollout.sglang.protocol import (
    SAMPLING_KEYS_AT_DEFAULT,
    SAMPLING_KEYS_SUPPORTED,
    GenerateItem,
    RequestError,
)
from megatron_mmupt.utils.errors import InputError

SGLANG_TOP_K_ALL = 1 << 30
"""SGLang's ``top_k`` default, meaning the whole vocabulary."""
SGLANG_MAX_NEW_TOKENS = 128
"""SGLang's ``max_new_tokens`` default."""
MAX_SAMPLES_PER_REQUEST = 256
"""Bound on ``sampling_params.n``: one request must not queue unbounded work (SGLang's client sends n=1)."""
_SAMPLING_TYPES: dict[str, tuple[type, ...]] = {
    "n": (int,), "temperature": (int, float), "top_p": (int, float), "top_k": (int,), "max_new_tokens": (int,),
    "sampling_seed": (int,), "skip_special_tokens": (bool,), "no_stop_trim": (bool,),
}  # fmt: skip


def parse_generate(body: Any, vocab_size: int) -> tuple[list[GenerateItem], bool]:
    """The samples a body asks for, and whether the answer is a list (a batch, or ``n > 1``). Every refusal is a
    400 that names the field; token ids must lie in ``[0, vocab_size)`` (the model's embedding rows)."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    if body.get("stream"):
        raise RequestError("stream=true is not supported by megatron-mmupt serve")
    if body.get("logprob_start_len", -1) != -1 or body.get("top_logprobs_num", 0):
        raise RequestError("serve returns output log-probs only: logprob_start_len=-1, top_logprobs_num=0")
    sources, is_batch = _prompt_sources(body)
    for input_ids, _ in sources:
        _check_token_ids("input_ids", input_ids or (), vocab_size)
    size = len(sources)
    images = _images(body.get("image_data"), size, is_batch)
    params = _per_request(body.get("sampling_params") or {}, size, "sampling_params")
    rids = _rids(body.get("rid"), size, is_batch)
    return_logprob = bool(body.get("return_logprob", False))
    items: list[GenerateItem] = []
    as_list = is_batch
    for (input_ids, text), image, param, rid in zip(sources, images, params, rids, strict=True):
        sampling, seed, extras = _sampling(param, vocab_size)
        for j in range(sampling.n):
            sample_rid, sample_seed = rid, seed
            if sampling.n > 1:  # SGLang gives each of the n samples a fresh rid
                as_list = True
                sample_rid = uuid.uuid4().hex
                sample_seed = None if seed is None else _derive(seed, j)
            items.append(
                GenerateItem(
                    sample_rid, input_ids, text, image, sampling, sample_seed, return_logprob=return_logprob, **extras
                )
            )
    return items, as_list


def _prompt_sources(body: dict) -> tuple[list[tuple[tuple[int, ...] | None, str | None]], bool]:
    given = [k for k in ("text", "input_ids", "input_embeds") if body.get(k) is not None]
    if len(given) != 1 or given[0] == "input_embeds":
        raise RequestError("give exactly one of text or input_ids (input_embeds is not supported by serve)")
    value = body[given[0]]
    if given[0] == "text":
        if isinstance(value, str):
            return [(None, value)], False
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return [(None, v) for v in value], True
        raise RequestError("text must be a string or a non-empty list of strings")
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [(tuple(value), None)], False
    nested = isinstance(value, list) and value and all(isinstance(v, list) and v for v in value)
    if nested and all(isinstance(t, int) for v in value for t in v):
        return [(tuple(v), None) for v in value], True
    raise RequestError("input_ids must be a non-empty list of ints or a list of such lists")


def _images(data: Any, size: int, is_batch: bool) -> list[tuple[str, ...]]:
    """One tuple of image items per request (SGLang's shapes: item, list for one request, list of lists)."""
    if data is None:
        return [()] * size
    if not is_batch:
        return [tuple(data) if isinstance(data, list) else (data,)]
    if not isinstance(data, list) or len(data) != size:
        raise RequestError(f"image_data must hold one entry per request ({size})")
    return [tuple(d) if isinstance(d, list) else (() if d is None else (d,)) for d in data]


def _per_request(value: Any, size: int, key: str) -> list:
    if isinstance(value, list):
        if len(value) != size:
            raise RequestError(f"{key} has {len(value)} entries for {size} requests")
        return value
    return [value] * size


def _rids(rid: Any, size: int, is_batch: bool) -> list[str]:
    if rid is None:
        return [uuid.uuid4().hex for _ in range(size)]
    if isinstance(rid, str):
        return [f"{rid}_{i}" for i in range(size)] if is_batch else [rid]
    return [str(r) for r in _per_request(rid, size, "rid")]


def _check_token_ids(field: str, ids: Any, vocab_size: int) -> None:
    """Out-of-vocabulary ids would index past the embedding (a 500 deep in the model): refused up front, in the
    words SGLang uses for ``token_ids_logprob``."""
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise RequestError(f"{field} must be a list of token ids (ints)")
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise RequestError(f"{field} contains out-of-vocabulary token id {bad[0]}; valid range is [0, {vocab_size}).")


def _check_types(params: dict) -> None:
    for key, kinds in _SAMPLING_TYPES.items():
        value = params.get(key)
        if value is not None and (not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))):
            names = " or ".join(k.__name__ for k in kinds)
            raise RequestError(f"sampling_params.{key}={value!r} must be {names}")
    n = params.get("n", 1)
    if not 1 <= n <= MAX_SAMPLES_PER_REQUEST:
        raise RequestError(f"sampling_params.n={n} is out of range [1, {MAX_SAMPLES_PER_REQUEST}]")


def _sampling(params: Any, vocab_size: int) -> tuple[SamplingConfig, int | None, dict[str, Any]]:
    if not isinstance(params, dict):
        raise RequestError("sampling_params must be a JSON object")
    unknown = sorted(set(params) - set(SAMPLING_KEYS_SUPPORTED) - set(SAMPLING_KEYS_AT_DEFAULT))
    if unknown:
        expected = ", ".join(f"`{k}`" for k in (*SAMPLING_KEYS_SUPPORTED, *SAMPLING_KEYS_AT_DEFAULT))
        raise RequestError(f"unknown field `{unknown[0]}`, expected one of {expected}", contract=True)
    for key, default in SAMPLING_KEYS_AT_DEFAULT.items():
        if key in params and params[key] != default:
            raise RequestError(f"sampling_params.{key}={params[key]!r} is not supported by serve (only {default!r})")
    _check_types(params)
    _check_token_ids("sampling_params.stop_token_ids", params.get("stop_token_ids") or [], vocab_size)
    top_k = params.get("top_k", SGLANG_TOP_K_ALL)
    seed = params.get("sampling_seed")
    try:
        sampling = SamplingConfig(
            n=params.get("n", 1),
            temperature=params.get("temperature", 1.0),
            top_p=params.get("top_p", 1.0),
            top_k=-1 if top_k >= SGLANG_TOP_K_ALL else top_k,
            max_new_tokens=params.get("max_new_tokens", SGLANG_MAX_NEW_TOKENS),
            stop_token_ids=tuple(params.get("stop_token_ids") or ()),
            seed=seed or 0,
        )
    except (ConfigError, TypeError) as e:
        raise RequestError(f"sampling_params: {e}") from None
    bias = params.get("logit_bias") or {}
    try:
        logit_bias = tuple(sorted((int(k), float(v)) for k, v in bias.items()))
    except (AttributeError, TypeError, ValueError):
        raise RequestError("sampling_params.logit_bias must map token ids to numbers") from None
    bad = [k for k, _ in logit_bias if not 0 <= k < vocab_size]
    if bad:  # SGLang's SamplingParams.verify words
        raise RequestError(f"sampling_params.logit_bias must has keys in [0, {vocab_size - 1}], got {bad[0]}")
    extras = {
        "logit_bias": logit_bias,
        "skip_special_tokens": bool(params.get("skip_special_tokens", True)),
        "no_stop_trim": bool(params.get("no_stop_trim", False)),
    }
    return sampling, (None if seed is None else int(seed)), extras


def _derive(seed: int, index: int) -> int:
    """Seed of sample ``index`` of an ``n > 1`` request (SGLang would reuse one seed for all n)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=8).digest(), "little") >> 1


def fresh_seed() -> int:
    """Seed of a sample that came without ``sampling_seed``."""
    return secrets.randbits(63)


class PromptBuilder:
    """``GenerateItem`` -> ``Prompt``, with the model's tokenizer and (multimodal models) image processor."""

    def __init__(self, tokenizer: Any, image_processor: Any | None, image_token_id: int | None) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_token_id = image_token_id

    def build(self, item: GenerateItem) -> Prompt:
        ids = torch.tensor(item.input_ids if item.text is None else self.tokenizer.encode(item.text), dtype=torch.long)
        if not item.images:
            if self.image_token_id is not None and bool((ids == self.image_token_id).any()):
                raise RequestError(f"request {item.rid}: the prompt has image tokens but no image_data")
            return Prompt(
                item.rid,
                ids,
                torch.arange(len(ids)).expand(3, -1),
                0,
                torch.zeros(0, 0),
                torch.zeros(0, 3, dtype=torch.long),
                item.text or "",
            )
        if self.image_processor is None:
            raise RequestError(f"request {item.rid}: the served model has no vision tower, but image_data was sent")
        try:
            images = [load_image_item(i) for i in item.images]
        except InputError as e:
            raise RequestError(f"request {item.rid}: {e}") from None
        out = self.image_processor(images=images, return_tensors="pt")
        grid = out["image_grid_thw"].to(torch.long)
        ids = self._expand(ids, grid, item.rid)
        try:
            positions, delta = rope_position_ids(ids, grid, self.image_token_id, self.image_processor.merge_size)
        except ValueError as e:
            raise RequestError(f"request {item.rid}: {e}") from None
        return Prompt(item.rid, ids, positions, delta, out["pixel_values"], grid, item.text or "")

    def _expand(self, ids: torch.Tensor, grid: torch.Tensor, rid: str) -> torch.Tensor:
        """Each run of image pads becomes ``t*h*w / merge^2`` pads of its image (SGLang's re-expansion)."""
        is_pad = (ids == self.image_token_id).tolist()
        starts = [i for i, pad in enumerate(is_pad) if pad and (i == 0 or not is_pad[i - 1])]
        if len(starts) != grid.shape[0]:
            raise RequestError(f"request {rid}: {len(starts)} image placeholder(s) for {grid.shape[0]} image(s)")
        counts = (grid.prod(dim=-1) // self.image_processor.merge_size**2).tolist()
        pieces, position = [], 0
        for start, count in zip(starts, counts, strict=True):
            end = start
            while end < len(is_pad) and is_pad[end]:
                end += 1
            pieces += [ids[position:start], torch.full((count,), self.image_token_id, dtype=torch.long)]
            position = end
        pieces.append(ids[position:])
        return torch.cat(pieces)


def parse_version(value: Any, current: int) -> int:
    """An update's ``weight_version`` (``None``: unchanged); serve keeps integer versions."""
    if value is None:
        return current
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise RequestError(f"weight_version={value!r}: serve keeps integer weight versions")
