"""The rollout engine protocol: what the trainer needs from any engine (local transformers, SGLang, a balancer).

    groups = engine.generate(batch, sampling)              # PromptBatch -> list[RolloutGroup], n samples each
    engine.pause_generation(); engine.flush_cache()
    engine.update_weights(buckets, version=step)           # HF checkpoint-named buckets from the bridge
    engine.continue_generation()
    engine.release_memory_occupation() / engine.resume_memory_occupation()   # colocated mode
    engine.health()                                         # EngineHealth(healthy, weight_version, ...)

Method names follow SGLang's endpoints (``docs/rollout.md`` maps each to its HTTP path), so an engine reads
the same whether it runs in this process or behind a server. A trainer holds a ``RolloutEngine`` and never
asks which kind it is.

Seeds: every sample has its own seed, ``sample_seed(sampling.seed, batch, prompt.id, j)``, a hash of the base
seed, the batch's position in the data stream and the prompt, so a sample does not depend on which engine
drew it, what else was in its batch, or how the batch was split; a resumed run draws the same samples.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_positive, check_range
from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.errors import EngineError, EnginePaused, EngineUnavailable, WeightUpdateError
from megatron_mmupt.rollout.types import RolloutGroup
from megatron_mmupt.utils.errors import InputError

NamedTensor = tuple[str, torch.Tensor]
"""A weight under its Hugging Face checkpoint name (``model.layers.0.self_attn.q_proj.weight``)."""
WeightBucket = list[NamedTensor]
"""One bucket of a weight sync, as the bridge yields it; a sync is an iterable of buckets plus a version."""

__all__ = ["EngineError", "EnginePaused", "EngineUnavailable", "WeightUpdateError"]  # re-exported (errors.py)

GREEDY_TEMPERATURE = 1e-6
"""Temperatures below this sample greedily (SGLang's rule: ``temperature < 1e-6`` means ``top_k = 1``)."""


class MemoryTag(enum.StrEnum):
    """What ``release_memory_occupation`` frees (SGLang's tags)."""

    WEIGHTS = "weights"
    KV_CACHE = "kv_cache"
    CUDA_GRAPH = "cuda_graph"


@dataclasses.dataclass(kw_only=True, slots=True)
class SamplingConfig(ConfigNode):
    """How a batch is sampled. Defaults are the MM-UPT reference rollout (EasyR1: G=10, T=0.7, top_p=0.99)."""

    n: int = 10
    """Samples per prompt (the GRPO group size G)."""
    temperature: float = 0.7
    """Logits are divided by it; below 1e-6 sampling is greedy (and log-probs are those of temperature 1)."""
    top_p: float = 0.99
    """Nucleus: sample from the smallest set of most likely tokens whose mass reaches ``top_p``; in (0, 1]."""
    top_k: int = -1
    """Sample from the ``top_k`` most likely tokens; -1 disables it (SGLang's convention)."""
    max_new_tokens: int = 2048
    """Response length limit in tokens (EasyR1's ``max_response_length``); longer samples finish ``length``."""
    stop_token_ids: tuple[int, ...] = ()
    """Token ids that end a sample in addition to the model's EOS ids; the stop token is kept in the ids."""
    seed: int = 1
    """Base seed; each sample's seed is derived from it, the batch and the prompt (``sample_seed``)."""

    def __post_init__(self) -> None:
        check_range("n", self.n, 1)
        check_range("temperature", self.temperature, 0.0)
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p={self.top_p!r} must lie in (0, 1]")
        if self.top_k != -1 and self.top_k < 1:
            raise ConfigError(f"top_k={self.top_k!r} must be -1 (disabled) or at least 1")
        check_positive("max_new_tokens", self.max_new_tokens)
        self.stop_token_ids = tuple(self.stop_token_ids)
        bad = [t for t in self.stop_token_ids if not isinstance(t, int) or t < 0]
        if bad:
            raise ConfigError(f"stop_token_ids={list(self.stop_token_ids)} must be non-negative integers, not {bad}")
        check_range("seed", self.seed, 0, 2**63 - 1)

    @property
    def is_greedy(self) -> bool:
        return self.temperature < GREEDY_TEMPERATURE

    @property
    def truncates(self) -> bool:
        """True when top-p or top-k cut the distribution before sampling."""
        return self.top_p < 1.0 or self.top_k > 0


def sample_seed(seed: int, batch: PromptBatch, prompt_id: str, index: int) -> int:
    """The seed of sample ``index`` of prompt ``prompt_id``: a stable 63-bit hash (not Python's ``hash``)."""
    key = f"{seed}\x1f{batch.epoch}\x1f{batch.step_index}\x1f{prompt_id}\x1f{index}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def check_batch(batch: PromptBatch) -> None:
    """Refuse batches no engine can sample: empty, or with repeated prompt ids (groups are keyed by id)."""
    if len(batch) == 0:
        raise InputError("cannot generate from an empty PromptBatch; the data stage produced no prompts")
    seen: set[str] = set()
    for prompt in batch:
        if prompt.id in seen:
            raise InputError(f"prompt id {prompt.id!r} appears twice in the batch; ids must be unique")
        if prompt.num_tokens == 0:
            raise InputError(f"prompt {prompt.id!r} has no tokens")
        seen.add(prompt.id)


@dataclasses.dataclass(frozen=True, slots=True)
class EngineHealth:
    """What ``health()`` reports.

    Attributes:
        healthy: the engine answered and generated a token.
        weight_version: version of the weights it serves (``update_weights(..., version=)``; 0 at start).
        paused: between ``pause_generation`` and ``continue_generation``.
        released: memory tags currently released.
        detail: a human-readable line (engine kind, address, error).
    """

    healthy: bool
    weight_version: int
    paused: bool = False
    released: tuple[MemoryTag, ...] = ()
    detail: str = ""


@runtime_checkable
class RolloutEngine(Protocol):
    """One engine (or a balancer of several). Every method may raise ``EngineError``."""

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        """``sampling.n`` samples of every prompt, one ``RolloutGroup`` per prompt in batch order."""
        ...

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        """Load HF checkpoint-named tensors; validates every bucket before changing any weight."""
        ...

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        """Load the ``*.safetensors`` of an HF model folder (same names, same checks)."""
        ...

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None: ...

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None: ...

    def pause_generation(self) -> None:
        """Abort running requests (they finish ``abort``) and hold new ones until ``continue_generation``."""
        ...

    def continue_generation(self) -> None: ...

    def flush_cache(self) -> None:
        """Drop cached prefixes (KV computed with the old weights)."""
        ...

    def health(self) -> EngineHealth: ...

    @property
    def weight_version(self) -> int: ...

    def shutdown(self) -> None: ...


def memory_tags(tags: Sequence[MemoryTag | str] | None) -> tuple[MemoryTag, ...]:
    """``None`` or empty means every tag (SGLang's rule); unknown tags fail listing the valid ones."""
    if not tags:
        return tuple(MemoryTag)
    allowed = [t.value for t in MemoryTag]
    result = []
    for tag in tags:
        if tag not in allowed:
            raise ConfigError(f"memory tag {tag!r} is not valid; choose from: {', '.join(allowed)}")
        result.append(MemoryTag(tag))
    return tuple(result)
