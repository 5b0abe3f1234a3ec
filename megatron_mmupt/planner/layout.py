"""Where a run's processes go on a cluster of ``nodes x gpus_per_node`` GPUs.

Placement rules (those of ``train``: ``actor/group.py`` packs the actor's ranks onto GPUs in rank order, one
Ray actor per rollout engine holds ``rollout.sglang.tp_size`` GPUs of one node):

* **colocated** (``cluster.colocate``, engines on GPUs): the actor takes every GPU and so do the engines, one
  engine per ``tp_size`` GPUs; they take turns (the engines release their memory while the actor trains).
* **disaggregated**: the engines keep ``rollout.num_engines x tp_size`` GPUs; the actor takes the largest
  multiple of TP x PP of the remaining GPUs; any rest is idle.

The actor's ranks are Megatron's: TP innermost, then DP, then PP, so a TP group stays inside a node when TP
divides the GPUs per node.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.models.parallel_layout import check_parallel_layout
from megatron_mmupt.planner.errors import PlanError
from megatron_mmupt.planner.model_shape import ModelShape


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterShape:
    nodes: int
    gpus_per_node: int
    gpu_memory_bytes: int

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.gpus_per_node < 1:
            raise PlanError(f"a cluster of {self.nodes} nodes x {self.gpus_per_node} GPUs is empty",
                            fixes=["--nodes N --gpus-per-node G with N, G >= 1"])  # fmt: skip
        if self.gpu_memory_bytes <= 0:
            raise PlanError("cluster.gpu_memory_gib must be > 0", fixes=["cluster.gpu_memory_gib=80"])

    @property
    def total_gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclasses.dataclass(frozen=True, slots=True)
class ActorLayout:
    tensor: int
    pipeline: int
    data: int
    micro_batch_size: int
    sequences_per_update: int
    """Sequences of the largest optimizer step: ``ceil(prompts per step / updates_per_step) x n``."""

    @property
    def world_size(self) -> int:
        return self.tensor * self.pipeline * self.data

    @property
    def sequences_per_rank(self) -> int:
        return math.ceil(self.sequences_per_update / self.data)

    @property
    def num_micro_batches(self) -> int:
        """Micro-batches of one data-parallel rank in one optimizer step."""
        return math.ceil(self.sequences_per_rank / self.micro_batch_size)


@dataclasses.dataclass(frozen=True, slots=True)
class EngineLayout:
    kind: Literal["sglang", "local"]
    num_engines: int
    tensor: int
    on_gpu: bool

    @property
    def num_gpus(self) -> int:
        return self.num_engines * self.tensor if self.on_gpu else 0


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    cluster: ClusterShape
    actor: ActorLayout
    engines: EngineLayout
    colocated: bool

    @property
    def idle_gpus(self) -> int:
        used = self.actor.world_size if self.colocated else self.actor.world_size + self.engines.num_gpus
        return self.cluster.total_gpus - used

    def overrides(self) -> list[str]:
        """The config keys ``train`` needs for this placement."""
        return [f"trainer.world_size={self.actor.world_size}", f"rollout.num_engines={self.engines.num_engines}"]


def plan_layout(config: RunConfig, shape: ModelShape, cluster: ClusterShape) -> Layout:
    """The placement of ``config`` on ``cluster``; ``PlanError`` naming the fix when there is none."""
    parallel = config.actor.parallel
    text = shape.text
    check_parallel_layout(
        parallel,
        num_layers=text.num_layers,
        num_attention_heads=text.num_attention_heads,
        num_key_value_heads=text.num_key_value_heads,
        head_dim=text.head_dim,
    )
    engine_tensor = _engine_tensor_degree(config, cluster)
    on_gpu = config.rollout.engine == "sglang" or config.rollout.local.device != "cpu"
    colocated = config.cluster.colocate and on_gpu
    model_parallel = parallel.tensor_degree * parallel.pipeline_degree
    if colocated:
        actor_gpus, num_engines = _colocated_world(cluster, model_parallel), cluster.total_gpus // engine_tensor
    else:
        num_engines = config.rollout.num_engines
        actor_gpus = _disaggregated_world(cluster, model_parallel, num_engines * engine_tensor if on_gpu else 0)
    engines = EngineLayout(kind=config.rollout.engine, num_engines=num_engines, tensor=engine_tensor, on_gpu=on_gpu)
    actor = ActorLayout(
        tensor=parallel.tensor_degree,
        pipeline=parallel.pipeline_degree,
        data=actor_gpus // model_parallel,
        micro_batch_size=config.actor.micro_batch_size,
        sequences_per_update=_sequences_per_update(config),
    )
    if actor.data > actor.sequences_per_update:
        raise PlanError(
            f"data-parallel size {actor.data} exceeds the {actor.sequences_per_update} sequences of one optimizer "
            "step, so some actor ranks would have nothing to train on",
            fixes=[f"larger actor.parallel.tensor_degree/pipeline_degree, or fewer trainer.updates_per_step "
                   f"(now {config.trainer.updates_per_step}), or fewer nodes"],
        )  # fmt: skip
    return Layout(cluster=cluster, actor=actor, engines=engines, colocated=colocated)


def _engine_tensor_degree(config: RunConfig, cluster: ClusterShape) -> int:
    if config.rollout.engine != "sglang":
        return 1
    tp = config.rollout.sglang.tp_size
    if cluster.gpus_per_node % tp:
        divisors = [d for d in range(1, cluster.gpus_per_node + 1) if cluster.gpus_per_node % d == 0 and d <= tp]
        raise PlanError(
            f"rollout.sglang.tp_size={tp} does not divide the {cluster.gpus_per_node} GPUs of a node; an engine "
            "is one Ray actor, whose GPUs must lie on one node",
            fixes=[f"rollout.sglang.tp_size={divisors[-1]}"],
        )
    return tp


def _colocated_world(cluster: ClusterShape, model_parallel: int) -> int:
    if cluster.total_gpus % model_parallel:
        raise PlanError(
            f"the actor at TP x PP = {model_parallel} needs a multiple of {model_parallel} GPUs, and "
            f"{cluster.nodes} x {cluster.gpus_per_node} = {cluster.total_gpus} GPUs is not one",
            fixes=[f"--nodes {_nodes_for(cluster, model_parallel)}",
                   "smaller actor.parallel.tensor_degree / pipeline_degree"],
        )  # fmt: skip
    return cluster.total_gpus


def _disaggregated_world(cluster: ClusterShape, model_parallel: int, engine_gpus: int) -> int:
    free = cluster.total_gpus - engine_gpus
    if free < model_parallel:
        needed = math.ceil((engine_gpus + model_parallel) / cluster.gpus_per_node)
        raise PlanError(
            f"the engines take {engine_gpus} of the {cluster.total_gpus} GPUs, leaving {max(free, 0)} for an actor "
            f"that needs TP x PP = {model_parallel}",
            fixes=[f"--nodes {needed}", "fewer rollout.num_engines", "cluster.colocate=true"],
        )
    return free // model_parallel * model_parallel


def _nodes_for(cluster: ClusterShape, model_parallel: int) -> int:
    """The fewest nodes (at least the current count) whose GPUs are a multiple of ``model_parallel``."""
    nodes = max(cluster.nodes, math.ceil(model_parallel / cluster.gpus_per_node))
    while (nodes * cluster.gpus_per_node) % model_parallel:
        nodes += 1
    return nodes


def _sequences_per_update(config: RunConfig) -> int:
    prompts = math.ceil(config.data.sampler.batch_size / config.trainer.updates_per_step)
    return prompts * config.rollout.sampling.n
