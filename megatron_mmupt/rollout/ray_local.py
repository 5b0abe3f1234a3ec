"""Local engines as Ray actors, and the one function that starts a run's engines (local or SGLang).

A ``LocalEngine`` lives in its own Ray actor so that rollout and training are separate processes, as on a
cluster; ``RemoteLocalEngine`` is the ``RolloutEngine`` the trainer holds. It is picklable (a Ray handle), so
the actor's first rank can push weight buckets to the engine directly, without passing through the driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.balancer import EngineBalancer
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.rollout.engine import (
    EngineHealth,
    EngineUnavailable,
    MemoryTag,
    RolloutEngine,
    SamplingConfig,
    WeightBucket,
)
from megatron_mmupt.rollout.local_engine import LocalEngine
from megatron_mmupt.rollout.types import RolloutGroup


class _LocalEngineActor:
    """Body of the Ray actor: builds the engine in the actor's process, with its own torch threads."""

    def __init__(self, config: LocalEngine.Config, num_threads: int) -> None:
        torch.set_num_threads(max(1, num_threads))
        self.engine = LocalEngine(config)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.engine, method)(*args, **kwargs)

    def weight_version(self) -> int:
        return self.engine.weight_version


@dataclasses.dataclass
class RemoteLocalEngine:
    """A ``RolloutEngine`` whose ``LocalEngine`` runs in a Ray actor (``actor``)."""

    actor: Any
    timeout_s: float = 3600.0

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import ray

        try:
            return ray.get(self.actor.call.remote(method, *args, **kwargs), timeout=self.timeout_s)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as e:
            raise EngineUnavailable(f"local engine actor: {method} failed: {type(e).__name__}: {e}") from e

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        return self._call("generate", batch, sampling)

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        self._call("update_weights", list(buckets), version=version)

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        self._call("update_weights_from_disk", str(path), version=version)

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self._call("release_memory_occupation", tags)

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self._call("resume_memory_occupation", tags)

    def pause_generation(self, mode: str = "abort") -> None:
        self._call("pause_generation", mode)

    def continue_generation(self) -> None:
        self._call("continue_generation")

    def flush_cache(self) -> None:
        self._call("flush_cache")

    def health(self) -> EngineHealth:
        return self._call("health")

    @property
    def weight_version(self) -> int:
        import ray

        return ray.get(self.actor.weight_version.remote(), timeout=self.timeout_s)

    def shutdown(self) -> None:
        import ray

        ray.kill(self.actor)


def launch_local_engines(
    num_engines: int, config: LocalEngine.Config, *, num_cpus: float, num_gpus: float = 0.0
) -> list[RemoteLocalEngine]:
    """``num_engines`` Ray actors with a ``LocalEngine`` each; Ray must be initialized by the caller."""
    import ray

    actor_class = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(_LocalEngineActor)
    threads = max(1, round(num_cpus))
    engines = [RemoteLocalEngine(actor_class.remote(config, threads)) for _ in range(num_engines)]
    for engine in engines:  # surfaces a bad model folder now, not at the first rollout
        engine.health()
    return engines


def launch_rollout(
    config: RolloutConfig, *, model_path: str, seed: int, gpus_per_engine: float = 0.0
) -> EngineBalancer:
    """The run's engines behind one balancer: ``config.engine`` picks local engines or SGLang servers."""
    if config.engine == "local":
        local = dataclasses.replace(config.local, model_path=config.local.model_path or model_path)

        def start_local(_: int) -> RolloutEngine:
            return launch_local_engines(1, local, num_cpus=config.cpus_per_engine, num_gpus=gpus_per_engine)[0]

        engines = [start_local(i) for i in range(config.num_engines)]
        return EngineBalancer(config.balancer, engines=engines, restart=start_local)
    from megatron_mmupt.rollout.sglang_engine import launch_engines

    sglang = dataclasses.replace(config.sglang, model_path=config.sglang.model_path or model_path)
    client = dataclasses.replace(config.client, model_path=config.client.model_path or model_path)
    engines = launch_engines(config.num_engines, sglang, client, seed=seed, num_cpus=config.cpus_per_engine)
    return EngineBalancer(config.balancer, engines=engines, restart=lambda i: engines[i].restart())
