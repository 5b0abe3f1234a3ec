"""Ray for a run: a local instance when ``RAY_ADDRESS`` is unset (the embedded default), the cluster otherwise.

The driver is Ray's single controller: it creates the actor's worker group and the rollout engines as Ray
actors and calls them. On a CPU machine the CPUs Ray counts are logical (torch threads are set per worker), so
a local Ray is started with as many as the run's actors ask for, whatever the core count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

from megatron_mmupt.config.configurable import ConfigNode, check_range
from megatron_mmupt.utils.known_warnings import RAY_WORKER_SETUP_HOOK


@dataclasses.dataclass(kw_only=True, slots=True)
class ClusterConfig(ConfigNode):
    address: str = ""
    """Ray cluster to join; empty: ``RAY_ADDRESS`` if set, else start a local Ray."""
    num_gpus_per_worker: float = -1.0
    """GPUs of one actor worker (one Megatron rank); -1: 1 when the driver sees a GPU, else 0."""
    cpus_per_worker: float = 1.0
    """Ray CPUs of one actor worker; on CPU also its torch threads."""
    colocate: bool = True
    """Engines share the actor's GPUs (``parallel/placement.py``): the actor is offloaded to CPU while they
    generate, their memory is released while it trains. ``false``: engines on GPUs of their own."""
    offload_actor: bool = True
    """Colocated runs: the actor's weights, gradients and optimizer state leave its GPU while the engines
    generate (``trainer/gpu_sharing.py``); ``false`` keeps them there (the engines get less memory)."""
    gpus_per_node: int = 0
    """GPUs of one node, the size of each node's placement group; 0: those of the largest node Ray reports."""
    startup_timeout_s: float = 600.0
    """Limit for the actor's workers to join their process group."""
    gpu_memory_gib: float = 80.0
    """Memory of one GPU, for ``train --dry-run`` (the planner): 80 for H100 / A100 80GB, 141 for H200."""

    def __post_init__(self) -> None:
        check_range("cpus_per_worker", self.cpus_per_worker, 0.0)
        check_range("gpus_per_node", self.gpus_per_node, 0, 1024)
        check_range("startup_timeout_s", self.startup_timeout_s, 1.0)
        check_range("gpu_memory_gib", self.gpu_memory_gib, 1.0)

    def gpus_per_worker(self) -> float:
        if self.num_gpus_per_worker >= 0:
            return self.num_gpus_per_worker
        import torch

        return 1.0 if torch.cuda.is_available() else 0.0


@contextlib.contextmanager
def ray_session(config: ClusterConfig, *, num_cpus: float) -> Iterator[None]:
    """Connect to (or start) Ray for the duration of the block; a Ray already initialized is left running."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = config.address or os.environ.get("RAY_ADDRESS", "")
    # Workers import this package from the driver's working directory (a source checkout works too).
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(_python_path()), "RAY_DEDUP_LOGS": "0"}}
    runtime_env["worker_process_setup_hook"] = RAY_WORKER_SETUP_HOOK  # known third-party warnings, once per worker
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance: no token file in $HOME
        ray.init(
            num_cpus=max(1, int(-(-num_cpus // 1))),
            include_dashboard=False,
            runtime_env=runtime_env,
            log_to_driver=True,
            configure_logging=False,
        )
    try:
        yield
    finally:
        ray.shutdown()


def _python_path() -> list[str]:
    import megatron_mmupt

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(megatron_mmupt.__file__)))
    existing = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [package_root, *existing]
