"""The rollout engine of an offline job (evaluation, question synthesis): no trainer, no weight syncs.

| settings | engine | Ray |
|---|---|---|
| ``server_url=http://host:port`` | ``SGLangClient`` to a running SGLang server (or ``megatron-mmupt serve``) | no |
| ``rollout.engine=local`` (default), ``rollout.num_engines=1`` | ``LocalEngine`` in this process | no |
| ``rollout.engine=local``, more engines | local engines as Ray actors behind a balancer | yes |
| ``rollout.engine=sglang`` | SGLang servers started as Ray actors, behind a balancer | yes |

Engines started here are stopped on exit; a server given by URL is left running. ``docs/rollout.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from megatron_mmupt.parallel.cluster import ClusterConfig, ray_session
from megatron_mmupt.rollout.config import RolloutConfig
from megatron_mmupt.rollout.engine import RolloutEngine


@contextlib.contextmanager
def open_engine(
    rollout: RolloutConfig, *, model_path: Path, server_url: str, cluster: ClusterConfig, seed: int
) -> Iterator[RolloutEngine]:
    """An engine serving ``model_path`` for the duration of the block (see the module docstring)."""
    rollout = _serving(rollout, str(model_path))
    if server_url:
        # The client reads the tokenizer and image processor of the served model from its model_path.
        yield dataclasses.replace(rollout.client, url=server_url).build()
        return
    if rollout.engine == "local" and rollout.num_engines == 1:
        engine = rollout.local.build()
        try:
            yield engine
        finally:
            engine.shutdown()
        return
    from megatron_mmupt.rollout.ray_local import launch_rollout

    with ray_session(cluster, num_cpus=rollout.num_engines * rollout.cpus_per_engine):
        balancer = launch_rollout(rollout, model_path=str(model_path), seed=seed)
        try:
            yield balancer
        finally:
            balancer.shutdown()


def _serving(rollout: RolloutConfig, model_path: str) -> RolloutConfig:
    """Every engine kind pointed at the evaluated model (``--model`` decides, not the engine sections)."""
    return dataclasses.replace(
        rollout,
        local=dataclasses.replace(rollout.local, model_path=model_path),
        sglang=dataclasses.replace(rollout.sglang, model_path=model_path),
        client=dataclasses.replace(rollout.client, model_path=model_path),
    )
