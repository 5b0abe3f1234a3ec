"""The actor's configuration, importable without Megatron-Core (run configs and the CLI read it)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from megatron_mmupt.config.configurable import ConfigNode, Configurable, check_choice, check_positive, check_range
from megatron_mmupt.parallel.config import ParallelConfig

SpecName = Literal["auto", "te", "local"]


@dataclasses.dataclass(kw_only=True, slots=True)
class OptimizerConfig(ConfigNode):
    lr: float = 1e-6
    """Learning rate (reference: 1e-6, constant)."""
    weight_decay: float = 0.01
    """AdamW weight decay (reference: 0.01)."""
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    clip_grad: float = 1.0
    """Gradient clipping by global norm (reference: 1.0); 0 disables it."""

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_range("weight_decay", self.weight_decay, 0.0)
        check_range("clip_grad", self.clip_grad, 0.0)


@dataclasses.dataclass(kw_only=True, slots=True)
class ActorConfig(Configurable.Config):
    """The Megatron-Core actor: model folder, parallel layout, optimizer, micro-batching, precision."""

    model: str = ""
    """Hugging Face folder the actor starts from (config, weights)."""
    parallel: ParallelConfig = dataclasses.field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    micro_batch_size: int = 4
    """Sequences per micro-batch (forward/backward at once); the update covers the whole batch."""
    params_dtype: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 on GPUs, fp32 on CPUs."""
    spec: SpecName = "auto"
    """Layer spec: Transformer Engine where it imports (``auto``), or ``local``."""
    recompute: Literal["none", "selective", "full"] = "none"
    """Activation recompute: ``selective`` (attention core), ``full`` (every layer); trades compute for memory."""
    distributed_optimizer: bool = False
    """Shard optimizer state and the fp32 master weights over data-parallel ranks (Megatron's ZeRO-1).
    Checkpoints save and resume exactly with it (``dp_reshardable`` format; ``actor/megatron/dist_state.py``
    works around megatron-core 0.16's handling of torch Adam's ``step``)."""
    freeze_vision: bool = False
    """Keep the vision tower fixed (the reference trains it)."""

    def __post_init__(self) -> None:
        check_positive("micro_batch_size", self.micro_batch_size)
        check_choice("params_dtype", self.params_dtype, ("auto", "fp32", "bf16"))
        check_choice("spec", self.spec, ("auto", "te", "local"))
        check_choice("recompute", self.recompute, ("none", "selective", "full"))
