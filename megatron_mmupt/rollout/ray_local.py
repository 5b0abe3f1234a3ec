"""Local engines as Ray actors, and the one function that starts a run's engines (local or SGLang).

A ``LocalEngine`` lives in its own Ray actor so that rollout and training are separate processes, as on a
cluster; ``RemoteLocalEngine`` is the ``RolloutEngine`` the trainer holds. Its ``weight_target()`` is picklable
(a Ray handle), so the actor's first rank puts weight buckets into Ray's object store and the engine fetches
them from there: the driver never holds them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.parallel.run_placement import RunPlacement
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
from megatron_mmupt.rollout.local.engine import LocalEngine
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

    def update_weights_from_objects(self, refs: list[Any], version: int) -> None:
        """Buckets put into Ray's object store by the sender (an actor rank), fetched here one by one."""
        import ray

        self.engine.update_weights((ray.get(ref) for ref in refs), version=version)


@dataclasses.dataclass(frozen=True)
class LocalEngineTarget:
    """A local engine's Ray actor as a weight sender reaches it (picklable: handed to the actor's ranks).

    ``submit_*`` return Ray object refs, so a sender updates several engines at once and waits for all.
    """

    actor: Any

    def submit_objects(self, refs: list[Any], *, version: int) -> Any:
        return self.actor.update_weights_from_objects.remote(refs, version)

    def submit_disk(self, path: str, *, version: int) -> Any:
        return self.actor.call.remote("update_weights_from_disk", path, version=version)


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

    def weight_target(self) -> LocalEngineTarget:
        """How the actor's ranks send weights to this engine (``bridge/transports``)."""
        return LocalEngineTarget(self.actor)

    def get_weights_by_name(self, name: str, truncate_size: int = 100) -> list[float]:
        return self._call("get_weights_by_name", name, truncate_size)

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
    num_engines: int, config: LocalEngine.Config, *, num_cpus: float, placement: RunPlacement | None = None,
    first: int = 0,
) -> list[RemoteLocalEngine]:  # fmt: skip
    """``num_engines`` Ray actors with a ``LocalEngine`` each; Ray must be initialized by the caller.

    With a ``placement``, engine ``first + i`` goes where ``placement.engine_options`` puts it (a GPU share on a
    GPU run); without one, each asks for ``num_cpus`` CPUs.
    """
    import ray

    actor_class = ray.remote(_LocalEngineActor)
    threads = max(1, round(num_cpus))
    engines = []
    for i in range(first, first + num_engines):
        options = placement.engine_options(i) if placement else {"num_cpus": num_cpus, "num_gpus": 0}
        engines.append(RemoteLocalEngine(actor_class.options(**options).remote(config, threads)))
    for engine in engines:  # surfaces a bad model folder now, not at the first rollout
        engine.health()
    return engines


def launch_rollout(
    config: RolloutConfig, *, model_path: str, seed: int, placement: RunPlacement | None = None
) -> EngineBalancer:
    """The run's engines behind one balancer: ``config.engine`` picks local engines or SGLang servers."""
    if config.engine == "local":
        local = dataclasses.replace(config.local, model_path=config.local.model_path or model_path)

        def start_local(index: int) -> RolloutEngine:
            return launch_local_engines(1, local, num_cpus=config.cpus_per_engine, placement=placement, first=index)[0]

        engines = [start_local(i) for i in range(config.num_engines)]
        return EngineBalancer(config.balancer, engines=engines, restart=start_local)
    from megatron_mmupt.rollout.sglang.ray_engine import launch_engines

    sglang = dataclasses.replace(config.sglang, model_path=config.sglang.model_path or model_path)
    client = dataclasses.replace(
        config.client, model_path=config.client.model_path or model_path, tp_size=config.sglang.tp_size
    )
    engines = launch_engines(
        config.num_engines, sglang, client, seed=seed, num_cpus=config.cpus_per_engine, placement=placement
    )
    return EngineBalancer(config.balancer, engines=engines, restart=lambda i: engines[i].restart())
