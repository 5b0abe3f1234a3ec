"""The processes of a run, started in order and stopped in reverse: placement, actor, engines, weight sync.

    with contextlib.ExitStack() as cleanup:
        run = launch(config, run_dir, cleanup)      # run.actor, run.rollout, run.gpus (+ run.placement)

Each piece is registered with ``cleanup`` as soon as it exists, so a failure while starting the next one stops
what is already running and gives the reserved GPUs back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

from megatron_mmupt.actor.group import ActorGroup
from megatron_mmupt.bridge.sync import WeightSync
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.parallel.run_placement import RunPlacement
from megatron_mmupt.rollout.balancer import EngineBalancer
from megatron_mmupt.rollout.ray_local import launch_rollout
from megatron_mmupt.trainer.gpu_sharing import GpuSharing

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunProcesses:
    placement: RunPlacement
    actor: ActorGroup
    rollout: EngineBalancer
    gpus: GpuSharing


def launch(config: RunConfig, run_dir: Path, cleanup: contextlib.ExitStack) -> RunProcesses:
    rollout_config = config.rollout
    placement = RunPlacement.reserve(
        config.cluster, world_size=config.trainer.world_size, num_engines=rollout_config.num_engines,
        engine_tp=rollout_config.gpus_per_engine, engines_on_gpu=rollout_config.uses_gpus,
        cpus_per_engine=rollout_config.cpus_per_engine,
    )  # fmt: skip
    cleanup.callback(placement.release)
    for line in placement.describe():
        logger.info(line)
    actor = ActorGroup.launch(config.actor, config.algorithm, config.cluster, world_size=config.trainer.world_size,
                              seed=config.seed, placement=placement)  # fmt: skip
    cleanup.callback(actor.shutdown)
    # Colocated: the actor leaves its GPUs first, so SGLang sizes its KV cache pool on free GPUs.
    freed = GpuSharing.make_room(actor, colocated=placement.colocated, offload_actor=config.cluster.offload_actor)
    rollout = launch_rollout(rollout_config, model_path=config.actor.model, seed=config.seed, placement=placement)
    cleanup.callback(rollout.shutdown)
    weights = WeightSync(
        rollout_config.weight_sync, actor=actor, rollout=rollout, placement=placement, rollout_config=rollout_config,
        actor_model=config.actor.model, world_size=config.trainer.world_size,
        bucket_bytes=rollout_config.weight_bucket_bytes, run_dir=run_dir,
    )  # fmt: skip
    gpus = GpuSharing(actor=actor, rollout=rollout, weights=weights, colocated=placement.colocated,
                      offload_actor=config.cluster.offload_actor)  # fmt: skip
    gpus.adopt_offloaded(freed)
    return RunProcesses(placement, actor, rollout, gpus)
