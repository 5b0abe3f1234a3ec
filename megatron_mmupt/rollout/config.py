"""The rollout section of a run: which engines, how many, how they sample, how weights reach them."""

from __future__ import annotations

import dataclasses
from typing import Literal

from megatron_mmupt.bridge.sync_config import WeightSyncConfig
from megatron_mmupt.config.configurable import ConfigNode, check_choice, check_positive, check_range
from megatron_mmupt.rollout.balancer import EngineBalancer
from megatron_mmupt.rollout.engine import SamplingConfig
from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.sglang.args import SGLangConfig
from megatron_mmupt.rollout.sglang.client import SGLangClient


@dataclasses.dataclass(kw_only=True, slots=True)
class RolloutConfig(ConfigNode):
    engine: Literal["local", "sglang"] = "local"
    """``local``: transformers in a Ray actor (CPU, one GPU, CI); ``sglang``: SGLang servers (GPU clusters)."""
    num_engines: int = 1
    """Engines behind the balancer; each is one Ray actor (an SGLang engine spans ``sglang.tp_size`` GPUs)."""
    sampling: SamplingConfig = dataclasses.field(default_factory=SamplingConfig)
    """Training rollouts: ``n`` is the GRPO group size G (reference: G=10, T=0.7, top_p=0.99)."""
    local: LocalEngine.Config = dataclasses.field(default_factory=LocalEngine.Config)
    """The local engine; an empty ``model_path`` takes the actor's model."""
    sglang: SGLangConfig = dataclasses.field(default_factory=SGLangConfig)
    """The SGLang servers; an empty ``model_path`` takes the actor's model."""
    client: SGLangClient.Config = dataclasses.field(default_factory=SGLangClient.Config)
    """How the trainer talks to SGLang (timeouts, retries, weight transport); ``url`` is set per engine."""
    balancer: EngineBalancer.Config = dataclasses.field(default_factory=EngineBalancer.Config)
    """Retries of prompts whose engine died."""
    weight_bucket_bytes: int = 256 << 20
    """Size of one bucket of a weight sync (the bridge streams the actor's weights in HF naming)."""
    weight_sync: WeightSyncConfig = dataclasses.field(default_factory=WeightSyncConfig)
    """How weights go from the actor's ranks to the engines: transport, check mode."""
    cpus_per_engine: float = 1.0
    """Ray CPUs of one engine actor; torch threads of a local engine on CPU follow it."""

    def __post_init__(self) -> None:
        check_choice("engine", self.engine, ("local", "sglang"))
        check_range("num_engines", self.num_engines, 1, 4096)
        check_positive("weight_bucket_bytes", self.weight_bucket_bytes)
        check_positive("cpus_per_engine", self.cpus_per_engine)

    @property
    def gpus_per_engine(self) -> int:
        """GPUs one engine spans: SGLang's TP size; a local engine uses one."""
        return self.sglang.tp_size if self.engine == "sglang" else 1

    @property
    def uses_gpus(self) -> bool:
        """Whether the engines run on GPUs (SGLang always; a local engine unless its device is the CPU)."""
        return self.engine == "sglang" or self.local.device != "cpu"

    @property
    def served_model(self) -> str:
        """The HF folder the engines serve (empty: the actor's model, filled in by the caller)."""
        return self.sglang.model_path if self.engine == "sglang" else self.local.model_path
