"""Memory per GPU of a run in a layout: the actor's most loaded pipeline stage, and the rollout engines.

Two phases share a colocated GPU: **training** (the actor's state and activations; the engines have released
theirs) and **rollout** (the engines' weights and KV cache; the actor's state is offloaded to host memory,
``cluster.offload_actor``, or stays resident without it). With the offload, the weight sync between them holds
the actor's weights (and the KL reference's) beside the engines' weights, before the KV cache returns
(``trainer/gpu_sharing.py``): the rollout phase's peak is the larger of the two. SGLang sizes its KV pool at
launch, when the offloaded actor holds nothing. Disaggregated, the actor's GPUs see only training and the
engines' GPUs only rollout.

Assumptions, beyond the formulas of ``memory.py``: parameters in bf16 unless ``actor.params_dtype=fp32``
(``auto`` means a GPU, so bf16); attention fused (flash / cuDNN, no stored softmax) unless ``actor.spec=local``;
sequences at full length (longest prompt + ``max_new_tokens``) and images at the pixel cap; one image per
prompt; Megatron's 1F1B schedule, so pipeline stage ``k`` of ``p`` holds ``min(p - k, micro-batches)``
micro-batches in flight (the last stage one, and the logits of one); SGLang shards all weights over its TP;
``RUNTIME_RESERVE`` per GPU for CUDA contexts, NCCL buffers and allocator fragmentation. Log-prob passes run
without gradients and need less than a training micro-batch, so they are not counted.
"""

from __future__ import annotations

import dataclasses
import math

from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.planner import memory
from megatron_mmupt.planner.layout import ActorLayout, Layout
from megatron_mmupt.planner.model_shape import ModelShape
from megatron_mmupt.planner.params import StageParams, model_params, stage_params

RUNTIME_RESERVE = 4 * memory.GIB
ASSUMED_MEM_FRACTION_STATIC = 0.85
"""Used when ``rollout.sglang.mem_fraction_static`` is unset (SGLang then picks a value near this one itself)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ActorMemory:
    """One GPU of pipeline stage ``stage``, in bytes."""

    stage: int
    params: StageParams
    weights: int
    gradients: int
    optimizer: int
    reference: int
    layer_activations: int
    vision_activations: int
    logit_activations: int

    @property
    def resident(self) -> int:
        """What stays on the GPU between steps (through the rollout, when colocated)."""
        return self.weights + self.gradients + self.optimizer + self.reference

    @property
    def activations(self) -> int:
        return self.layer_activations + self.vision_activations + self.logit_activations


@dataclasses.dataclass(frozen=True, slots=True)
class EngineMemory:
    """One GPU of a rollout engine, in bytes; ``kv_pool`` is ``None`` for engines that allocate on demand."""

    weights: int
    kv_per_token: int
    kv_pool: int | None
    group_tokens: int

    @property
    def group_bytes(self) -> int:
        return self.group_tokens * self.kv_per_token

    @property
    def groups_in_pool(self) -> int:
        return max(self.kv_pool or 0, 0) // self.group_bytes


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryEstimate:
    gpu_memory: int
    reserve: int
    actor: ActorMemory
    """The stage with the highest training peak."""
    engine: EngineMemory | None
    """``None`` when the engines run on CPUs."""
    colocated: bool
    offload_actor: bool = False
    """Colocated runs only: the actor's state leaves the GPU while the engines hold theirs."""

    @property
    def training_peak(self) -> int:
        return self.actor.resident + self.actor.activations + self.reserve

    @property
    def rollout_resident(self) -> int:
        """What the actor keeps on a colocated GPU while the engines generate."""
        return self.actor.resident if self.colocated and not self.offload_actor else 0

    @property
    def rollout_peak(self) -> int:
        if self.engine is None:
            return 0
        engine = self.engine.weights + max(self.engine.kv_pool or self.engine.group_bytes, 0) + self.reserve
        if self.colocated and self.offload_actor:  # the sync: both copies of the weights, no KV cache yet
            return max(engine, self.engine.weights + self.actor.weights + self.actor.reference + self.reserve)
        return engine + self.rollout_resident


def estimate_memory(config: RunConfig, shape: ModelShape, layout: Layout) -> MemoryEstimate:
    """Every pipeline stage's memory; the estimate keeps the stage with the highest training peak."""
    stages = [actor_memory(config, shape, layout.actor, stage) for stage in range(layout.actor.pipeline)]
    worst = max(stages, key=lambda s: s.resident + s.activations)
    offload = layout.colocated and config.cluster.offload_actor
    # An engine's pool is sized by its fullest GPU: the stage that keeps the most resident during rollout.
    resident = max(s.resident for s in stages) if layout.colocated and not offload else 0
    engine = engine_memory(config, shape, layout, actor_resident=resident) if layout.engines.on_gpu else None
    return MemoryEstimate(
        gpu_memory=layout.cluster.gpu_memory_bytes, reserve=RUNTIME_RESERVE, actor=worst, engine=engine,
        colocated=layout.colocated, offload_actor=offload,
    )  # fmt: skip


def actor_memory(config: RunConfig, shape: ModelShape, actor: ActorLayout, stage: int) -> ActorMemory:
    """Model state and training activations of one GPU of pipeline stage ``stage``."""
    text, cfg = shape.text, config.actor
    params = stage_params(
        shape, tensor_degree=actor.tensor, pipeline_degree=actor.pipeline, stage=stage,
        padded_vocab=cfg.parallel.padded_vocab_size(text.vocab_size), freeze_vision=cfg.freeze_vision,
    )  # fmt: skip
    param_bytes = memory.FP32_BYTES if cfg.params_dtype == "fp32" else 2
    weights, gradients, optimizer = memory.model_state_bytes(
        params=params.total, trainable=params.trainable, param_bytes=param_bytes, data_degree=actor.data,
        distributed_optimizer=cfg.distributed_optimizer,
    )  # fmt: skip
    reference = weights if config.algorithm.kl.coef > 0 else 0
    layers, vision, logits = _activations(config, shape, actor, stage, act_bytes=param_bytes)
    return ActorMemory(
        stage=stage, params=params, weights=weights, gradients=gradients, optimizer=optimizer, reference=reference,
        layer_activations=layers, vision_activations=vision, logit_activations=logits,
    )  # fmt: skip


def _activations(
    config: RunConfig, shape: ModelShape, actor: ActorLayout, stage: int, act_bytes: int
) -> tuple[int, int, int]:
    """Bytes of ``(decoder layers, vision tower, logits)`` saved for backward on one GPU of ``stage``."""
    text, cfg = shape.text, config.actor
    seq_len = config.data.prompt.max_prompt_tokens + config.rollout.sampling.max_new_tokens
    tokens = actor.micro_batch_size * seq_len
    in_flight = min(actor.pipeline - stage, actor.num_micro_batches)
    # With fewer KV heads than TP ranks each rank keeps one whole KV head (shared with TP / kv_heads ranks).
    kv_size = max(text.kv_size, text.head_dim * actor.tensor)
    dims = dict(hidden=text.hidden_size, q_size=text.q_size, kv_size=kv_size, ffn_size=text.intermediate_size,
                gated=True, tensor_degree=actor.tensor)  # fmt: skip
    scores = text.num_attention_heads if cfg.spec == "local" else 0  # TE's fused attention keeps no softmax
    full_layer = memory.transformer_layer_activations(**dims, score_heads=scores, seq_len=seq_len) * tokens
    kept = {
        "none": full_layer,
        "selective": memory.transformer_layer_activations(**dims) * tokens,
        "full": text.hidden_size * tokens,  # the layer's input; the rest is recomputed in backward
    }[cfg.recompute]
    layers = in_flight * (text.num_layers // actor.pipeline) * kept
    if cfg.recompute == "full":
        layers += full_layer  # the one layer being recomputed
    vision = _vision_activations(config, shape, actor) * in_flight if stage == 0 else 0
    logits = 0
    if stage == actor.pipeline - 1:
        vocab_shard = cfg.parallel.padded_vocab_size(text.vocab_size) // actor.tensor
        logits = tokens * vocab_shard * memory.LOGIT_BYTES
    return math.ceil(layers * act_bytes), math.ceil(vision * act_bytes), logits


def _vision_activations(config: RunConfig, shape: ModelShape, actor: ActorLayout) -> float:
    """Elements the vision tower saves for one micro-batch; none when it is frozen (no gradient, nothing saved)."""
    vision = shape.vision
    if vision is None or config.actor.freeze_vision:
        return 0.0
    patches = memory.patches_per_image(
        max_pixels=config.data.images.max_pixels, patch_size=vision.patch_size,
        merge_size=vision.spatial_merge_size, max_prompt_tokens=config.data.prompt.max_prompt_tokens,
    )  # fmt: skip
    images = memory.images_per_micro_batch(
        micro_batch_size=actor.micro_batch_size, data_degree=actor.data, samples=config.rollout.sampling.n
    )
    # transformers' SDPA attention stores no softmax; the tower is whole on every TP rank (t = 1).
    per_token = memory.transformer_layer_activations(
        hidden=vision.hidden_size, q_size=vision.hidden_size, kv_size=vision.hidden_size,
        ffn_size=vision.intermediate_size, gated=vision.gated_mlp,
    )  # fmt: skip
    return images * patches * vision.depth * per_token


def engine_memory(config: RunConfig, shape: ModelShape, layout: Layout, *, actor_resident: int) -> EngineMemory:
    """One GPU of an engine: its weight shard, the KV cache per token, SGLang's pool (static) or none (local)."""
    rollout, text = config.rollout, shape.text
    sglang = rollout.engine == "sglang"
    dtype = rollout.sglang.dtype if sglang else rollout.local.dtype
    dtype_bytes = memory.FP32_BYTES if dtype == "float32" else 2
    tp = layout.engines.tensor
    weights = math.ceil(model_params(shape) * dtype_bytes / tp)
    kv_per_token = memory.kv_cache_bytes_per_token(
        num_layers=text.num_layers, kv_heads=text.num_key_value_heads, head_dim=text.head_dim,
        tensor_degree=tp, dtype_bytes=dtype_bytes,
    )  # fmt: skip
    tokens = memory.group_tokens(
        prompt_tokens=config.data.prompt.max_prompt_tokens, response_tokens=rollout.sampling.max_new_tokens,
        samples=rollout.sampling.n, prefix_cache=sglang and not rollout.sglang.disable_radix_cache,
    )  # fmt: skip
    pool = None
    if sglang:
        fraction = rollout.sglang.mem_fraction_static or ASSUMED_MEM_FRACTION_STATIC
        pool = memory.sglang_kv_pool(
            gpu_memory=layout.cluster.gpu_memory_bytes, mem_fraction_static=fraction,
            used_before_pool=actor_resident + weights + RUNTIME_RESERVE,
        )  # fmt: skip
    return EngineMemory(weights=weights, kv_per_token=kv_per_token, kv_pool=pool, group_tokens=tokens)
