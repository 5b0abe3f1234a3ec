"""The local rollout engine: a transformers model in this process, on CPU or one GPU.

It is the engine of the laptop, CI and single-GPU runs without SGLang, and the model behind
``megatron-mmupt serve``. Same protocol as the SGLang engine (``engine.RolloutEngine``), same token policy
(``token_policy``), same log-prob definition (``token_sampler``). Samples of a prompt share its prefill
(``decoding``); weights are updated in place from HF checkpoint-named buckets (``weights``).

Thread safety: one lock serializes generation, weight updates and memory moves, so a server may call it
from several threads; ``pause_generation`` (any thread) aborts the running batch at its next token, or, in
``in_place`` mode, holds it between two tokens with the lock released so that weights can be updated.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_choice, check_positive
from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.rollout.engine import (
    EngineError,
    EngineHealth,
    EnginePaused,
    MemoryTag,
    SamplingConfig,
    WeightBucket,
    WeightUpdateError,
    check_batch,
    memory_tags,
    sample_seed,
)
from megatron_mmupt.rollout.local.decoding import ModelRunner, RowPlan, decode
from megatron_mmupt.rollout.local.token_sampler import TokenSampler
from megatron_mmupt.rollout.token_policy import TokenPolicy
from megatron_mmupt.rollout.types import FinishReason, Rollout, RolloutGroup
from megatron_mmupt.rollout.weights import CheckpointNames, apply_update, plan_update, read_safetensors_folder
from megatron_mmupt.utils.errors import InputError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PAUSE_MODES = ("abort", "in_place")


class LocalEngine(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        model_path: str = ""
        """HF model folder (weights, config, tokenizer): Qwen2.5-VL or a text-only causal LM."""
        device: str = "auto"
        """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (the first GPU if there is one)."""
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
        """Weights and activations; ``auto`` keeps the checkpoint's dtype."""
        context_length: int | None = None
        """Longest prompt + response in tokens; ``None`` takes the model's ``max_position_embeddings``."""
        max_batch_rows: int = 256
        """Samples decoded together; larger requests run in chunks of whole prompts."""
        attn_implementation: Literal["sdpa", "eager"] = "sdpa"
        """transformers' attention kernel."""

        def __post_init__(self) -> None:
            check_choice("dtype", self.dtype, ("auto", *DTYPES))
            check_choice("attn_implementation", self.attn_implementation, ("sdpa", "eager"))
            check_positive("max_batch_rows", self.max_batch_rows)
            if self.context_length is not None:
                check_positive("context_length", self.context_length)
            if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
                raise ConfigError(f"device={self.device!r} is not valid; choose auto, cpu, cuda or cuda:N")

    def __init__(self, config: Config) -> None:
        if not config.model_path:
            raise ConfigError("model_path is empty; set it to an HF model folder")
        self.config = config
        self.device = torch.device(_resolve_device(config.device))
        self.model, self.tokenizer, self.token_policy = _load(config, self.device)
        self.runner = ModelRunner(self.model)
        self.names = CheckpointNames(self.model)
        text_config = getattr(self.model.config, "text_config", None) or self.model.config
        self.context_length = config.context_length or int(text_config.max_position_embeddings)
        self._lock = threading.Lock()
        self._pause_mode: str | None = None
        self._continue = threading.Event()
        self._continue.set()
        self._released: set[MemoryTag] = set()
        self._weight_version = 0

    # --- generation ---------------------------------------------------------------------------------

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        """``sampling.n`` samples of every prompt of ``batch`` (see ``engine.RolloutEngine``)."""
        check_batch(batch)
        seeds = [[sample_seed(sampling.seed, batch, p.id, j) for j in range(sampling.n)] for p in batch]
        samples = self.sample(list(batch), seeds, sampling)
        return [
            RolloutGroup(p.id, tuple(rollouts), p.answer, p.choices, num_prompt_tokens=p.num_tokens)
            for p, rollouts in zip(batch, samples, strict=True)
        ]

    def sample(
        self,
        prompts: Sequence[Prompt],
        seeds: Sequence[Sequence[int]],
        sampling: SamplingConfig,
        logit_bias: dict[int, float] | None = None,
    ) -> list[list[Rollout]]:
        """``len(seeds[i])`` samples of ``prompts[i]``, one per seed (``sampling.n`` is not used here).

        ``logit_bias`` (token id -> bias) is added to the logits before sampling and before the log-prob, as
        SGLang's ``sampling_params.logit_bias`` is; the trainer's path passes none.
        """
        for prompt in prompts:
            if prompt.num_tokens >= self.context_length:
                raise InputError(
                    f"prompt {prompt.id!r} has {prompt.num_tokens} tokens (images expanded), more than the "
                    f"engine's context of {self.context_length} allows (at least one token must be generated)"
                )
        results: list[list[Rollout]] = []
        for chunk in _chunks([len(s) for s in seeds], self.config.max_batch_rows):
            with self._lock:
                self._check_can_generate()
                results += self._sample_chunk(
                    [prompts[i] for i in chunk], [seeds[i] for i in chunk], sampling, logit_bias
                )
        return results

    def _sample_chunk(self, prompts, seeds, sampling, logit_bias) -> list[list[Rollout]]:
        counts = [len(s) for s in seeds]
        batch = PromptBatch(tuple(prompts))
        inputs = batch.collate(pad_token_id=self.token_policy.pad_token_id, padding_side="left")
        repeats = torch.tensor(counts)
        lengths = torch.tensor([p.num_tokens for p in prompts])
        deltas = torch.tensor([p.rope_delta for p in prompts])
        budget = torch.clamp(self.context_length - lengths, max=sampling.max_new_tokens)
        plan = RowPlan(
            prompt_index=torch.arange(len(prompts)).repeat_interleave(repeats),
            start_position=(lengths + deltas).repeat_interleave(repeats),
            max_new_tokens=budget.repeat_interleave(repeats),
        )
        bias = None
        if logit_bias:
            bias = torch.zeros(self.token_policy.vocab_size, device=self.device)
            bias[list(logit_bias)] = torch.tensor(list(logit_bias.values()), device=self.device)
        sampler = TokenSampler(
            sampling,
            self.token_policy.suppress_mask(sampling.stop_token_ids, self.device),
            [s for row in seeds for s in row],
            bias,
        )
        stop_ids = torch.tensor(self.token_policy.stop_ids(sampling.stop_token_ids))
        result = decode(
            self.runner, inputs, plan, sampler, stop_ids, self.token_policy.pad_token_id, self._between_steps
        )
        texts = self._texts(result.token_ids, result.finish)
        rollouts = [
            Rollout(text, finish, tuple(ids), tuple(lps), self._weight_version)
            for text, finish, ids, lps in zip(texts, result.finish, result.token_ids, result.logprobs, strict=True)
        ]
        starts = torch.cumsum(torch.tensor([0, *counts]), 0).tolist()
        return [rollouts[starts[i] : starts[i + 1]] for i in range(len(prompts))]

    def _texts(self, token_ids: list[list[int]], finish: list[FinishReason]) -> list[str]:
        # The matched stop token is cut from the text (SGLang's default, no_stop_trim=False).
        trimmed = [ids[:-1] if f is FinishReason.STOP else ids for ids, f in zip(token_ids, finish, strict=True)]
        return self.tokenizer.batch_decode(trimmed, skip_special_tokens=True)

    def _check_can_generate(self) -> None:
        if self._pause_mode is not None:
            raise EnginePaused("the local engine is paused (pause_generation); call continue_generation first")
        if MemoryTag.WEIGHTS in self._released:
            raise EngineError("the local engine's weights are released; call resume_memory_occupation first")

    def _between_steps(self) -> bool:
        """Called by the decode loop between tokens (lock held); True aborts the running batch."""
        if self._pause_mode is None:
            return False
        if self._pause_mode == "abort":
            return True
        self._lock.release()  # in_place: let weight updates run while this batch waits
        try:
            self._continue.wait()
        finally:
            self._lock.acquire()
        return False

    # --- weights ------------------------------------------------------------------------------------

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        """Check all buckets, then copy them into the model in place; sets the weight version."""
        plan = plan_update(self.names, buckets)  # raises before any weight changes
        with self._lock:
            apply_update(plan)
            self._weight_version = int(version)

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        self.update_weights(read_safetensors_folder(path), version=version)

    @property
    def weight_version(self) -> int:
        return self._weight_version

    def get_weights_by_name(self, name: str, truncate_size: int = 100) -> list[float]:
        """The first ``truncate_size`` values of weight ``name`` (a checkpoint or module name), flattened: what
        SGLang's ``/get_weights_by_name`` answers, for checking a weight sync."""
        module_name = self.names.resolve(name)
        if module_name is None:
            raise WeightUpdateError(f"the model has no weight {name!r}{self.names.suggest(name)}")
        with self._lock:
            values = self.names.parameters[module_name].detach().flatten()[:truncate_size]
            return values.float().cpu().tolist()

    # --- control ------------------------------------------------------------------------------------

    def pause_generation(self, mode: str = "abort") -> None:
        check_choice("mode", mode, PAUSE_MODES)
        self._continue.clear()
        self._pause_mode = mode

    def continue_generation(self) -> None:
        self._pause_mode = None
        self._continue.set()

    @property
    def busy(self) -> bool:
        """A batch is being decoded or a weight update applied."""
        return self._lock.locked()

    @property
    def paused(self) -> bool:
        return self._pause_mode is not None

    def wait_for_continue(self, timeout: float | None = None) -> bool:
        """Block while paused (a server holds new requests so); False if still paused after ``timeout``."""
        return self._continue.wait(timeout)

    def flush_cache(self) -> None:
        """Nothing to drop: the local engine keeps no KV cache between calls (each batch prefills anew)."""

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        """Free GPU memory for the trainer: weights move to CPU (kept, unlike SGLang, which drops them), the
        allocator's cache is emptied. On CPU nothing moves; generation is refused until resumed either way."""
        tags = memory_tags(tags)
        with self._lock:
            if MemoryTag.WEIGHTS in tags and self.device.type == "cuda":
                self.model.to("cpu")
            self._released |= set(tags)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        tags = memory_tags(tags)
        with self._lock:
            if MemoryTag.WEIGHTS in tags and MemoryTag.WEIGHTS in self._released:
                self.model.to(self.device)
            self._released -= set(tags)

    def health(self) -> EngineHealth:
        """Generates one greedy token (as SGLang's ``/health_generate``) unless paused or released."""
        detail = f"local {type(self.model).__name__} on {self.device}"
        if self._pause_mode is not None or self._released:
            return EngineHealth(True, self._weight_version, self._pause_mode is not None, self.released, detail)
        try:
            with self._lock:
                token = torch.tensor([[self.token_policy.eos_token_ids[0]]], device=self.device)
                with torch.no_grad():
                    logits = self.model(input_ids=token).logits
                ok = bool(torch.isfinite(logits).all())
        except Exception as e:  # a health check reports failures, it does not raise them
            return EngineHealth(False, self._weight_version, False, (), f"{detail}: {type(e).__name__}: {e}")
        return EngineHealth(ok, self._weight_version, False, (), detail if ok else f"{detail}: non-finite logits")

    @property
    def released(self) -> tuple[MemoryTag, ...]:
        return tuple(t for t in MemoryTag if t in self._released)

    def shutdown(self) -> None:
        """Drop the model; the engine cannot be used afterwards."""
        with self._lock:
            self._released = set(MemoryTag)
            self.model = None  # type: ignore[assignment]


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but no CUDA GPU is available; use device=cpu")
    return device


def _load(config: LocalEngine.Config, device: torch.device):
    """Model (eval mode, on ``device``), tokenizer and token policy of an HF folder."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    path = config.model_path
    if not Path(path).is_dir():
        raise ConfigError(f"model_path={path!r} is not a folder; give an HF model folder (config.json, weights)")
    model_config = AutoConfig.from_pretrained(path)
    auto = AutoModelForImageTextToText if getattr(model_config, "vision_config", None) else AutoModelForCausalLM
    dtype = "auto" if config.dtype == "auto" else DTYPES[config.dtype]
    model = auto.from_pretrained(path, dtype=dtype, attn_implementation=config.attn_implementation)
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    policy = TokenPolicy.from_model_parts(tokenizer, model.config, model.generation_config)
    return model, tokenizer, policy


def _chunks(counts: list[int], max_rows: int) -> list[list[int]]:
    """Consecutive prompt indices grouped so that each group has at most ``max_rows`` samples (a prompt
    with more samples than that forms a group of its own)."""
    chunks: list[list[int]] = []
    rows = 0
    for index, count in enumerate(counts):
        if not chunks or rows + count > max_rows:
            chunks.append([])
            rows = 0
        chunks[-1].append(index)
        rows += count
    return chunks
