"""SGLang engines on a cluster: one Ray actor per engine owns an SGLang server process on its GPUs.

    engines = launch_engines(4, sglang_config, client_config, seed=1)    # 4 Ray actors, 4 servers
    balancer = EngineBalancer.Config().build(engines=engines, restart=lambda i: engines[i].restart())

Split of work. The actor (``SGLangServer``, ``sglang/process.py``: placed on the run's placement bundle of its
first GPU, its server started on all of its GPUs) starts ``python -m sglang.launch_server`` with
``sglang.args.server_args``, waits for ``/health_generate``, and stops or restarts it. Generation and control go
over HTTP from the trainer's process (``RemoteSGLangEngine`` wraps an ``SGLangClient``); weight syncs go from the
actor's ranks to the server (``bridge/sync.py``), because CUDA-IPC handles must be created by the process that
owns the tensors. The Ray actor never touches weights.

Tested on CPU with ``megatron-mmupt serve`` as the server command (same HTTP API); the real
``sglang.launch_server`` path needs GPUs and was not run here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.parallel.run_placement import RunPlacement
from megatron_mmupt.rollout.engine import EngineHealth, MemoryTag, SamplingConfig, WeightBucket
from megatron_mmupt.rollout.sglang.args import SGLangConfig, launch_command
from megatron_mmupt.rollout.sglang.client import SGLangClient
from megatron_mmupt.rollout.sglang.process import Command, SGLangServer, local_serve_command
from megatron_mmupt.rollout.sglang.transports.calls import ServerEndpoint
from megatron_mmupt.rollout.types import RolloutGroup

__all__ = ["RemoteSGLangEngine", "SGLangServer", "launch_engines", "local_serve_command"]


class RemoteSGLangEngine:
    """A ``RolloutEngine``: requests over HTTP from this process, lifecycle through the Ray actor."""

    def __init__(self, actor: Any, client: SGLangClient, *, control_timeout_s: float = 900.0) -> None:
        self.actor, self.client, self.control_timeout_s = actor, client, control_timeout_s

    def restart(self) -> RemoteSGLangEngine:
        """Restart the server (same node, new port) and point the client at it. Its weights are the
        checkpoint's again (version 0): a balancer keeps it out until the next weight sync."""
        import ray

        url = ray.get(self.actor.restart.remote(), timeout=self.control_timeout_s)
        config = dataclasses.replace(self.client.config, url=url)
        self.client = SGLangClient(config)
        return self

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        return self.client.generate(batch, sampling)

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        self.client.update_weights(buckets, version=version)

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        self.client.update_weights_from_disk(path, version=version)

    def weight_target(self) -> ServerEndpoint:
        """How the actor's ranks send weights to this server (``bridge/transports``)."""
        return self.client.endpoint

    def get_weights_by_name(self, name: str, truncate_size: int = 100) -> list[float]:
        return self.client.get_weights_by_name(name, truncate_size)

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self.client.release_memory_occupation(tags)

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self.client.resume_memory_occupation(tags)

    def pause_generation(self, mode: str = "abort") -> None:
        self.client.pause_generation(mode)

    def continue_generation(self) -> None:
        self.client.continue_generation()

    def flush_cache(self) -> None:
        self.client.flush_cache()

    def health(self) -> EngineHealth:
        return self.client.health()

    @property
    def weight_version(self) -> int:
        return self.client.weight_version

    def shutdown(self) -> None:
        import ray

        try:
            ray.get(self.actor.stop.remote(), timeout=self.control_timeout_s)
        finally:
            ray.kill(self.actor)


def launch_engines(
    num_engines: int,
    sglang: SGLangConfig,
    client: SGLangClient.Config,
    *,
    seed: int,
    command: Command = launch_command,
    placement: RunPlacement | None = None,
    num_cpus: float = 1.0,
    startup_timeout_s: float = 900.0,
) -> list[RemoteSGLangEngine]:
    """``start_servers``, then one ``RemoteSGLangEngine`` (an HTTP client) per server."""
    servers = start_servers(
        num_engines, sglang, seed=seed, command=command, placement=placement, num_cpus=num_cpus,
        startup_timeout_s=startup_timeout_s,
    )  # fmt: skip
    return [RemoteSGLangEngine(actor, SGLangClient(dataclasses.replace(client, url=url))) for actor, url in servers]


def start_servers(
    num_engines: int,
    sglang: SGLangConfig,
    *,
    seed: int,
    command: Command = launch_command,
    placement: RunPlacement | None = None,
    num_cpus: float = 1.0,
    startup_timeout_s: float = 900.0,
) -> list[tuple[Any, str]]:
    """Start ``num_engines`` Ray actors and their servers, in parallel; ``(actor, url)`` per engine.

    With a ``placement`` (a run on GPUs) engine ``i``'s actor goes where ``placement.engine_options(i)`` puts it
    and its server sees the GPUs ``placement.engine_devices(i)``; without one (a machine without GPUs, tests)
    each actor asks for ``num_cpus`` CPUs only. Engine ``i`` gets ``random_seed = seed + i * tp_size`` (slime's
    rule), so engines do not draw the same noise. Ray must be initialized by the caller.
    """
    import ray

    actor_class = ray.remote(SGLangServer)
    actors = []
    for i in range(num_engines):
        options = placement.engine_options(i) if placement else {"num_cpus": num_cpus, "num_gpus": 0}
        devices = placement.engine_devices(i) if placement else ()
        seed_i = seed + i * sglang.tp_size
        server = actor_class.options(**options)
        actors.append(
            server.remote(sglang, seed=seed_i, command=command, startup_timeout_s=startup_timeout_s, devices=devices)
        )
    urls = ray.get([actor.start.remote() for actor in actors], timeout=startup_timeout_s + 60)
    return list(zip(actors, urls, strict=True))
