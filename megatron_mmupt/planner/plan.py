"""The dry run: a run's configuration against a cluster shape -> a plan, or a ``PlanError`` naming the fix.

    megatron-mmupt train --dry-run --recipe qwen2_5_vl_72b_mmr1 --nodes 4 --gpus-per-node 8

Nothing here touches a GPU, Ray or model weights: the model's sizes come from its ``config.json`` or a preset,
everything else from the config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.planner.errors import PlanError
from megatron_mmupt.planner.estimate import MemoryEstimate, estimate_memory
from megatron_mmupt.planner.fit import memory_problems
from megatron_mmupt.planner.layout import ClusterShape, Layout, plan_layout
from megatron_mmupt.planner.model_shape import ModelShape, resolve_model_shape


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    config: RunConfig
    """The run's config with this layout's ``trainer.world_size`` and ``rollout.num_engines``."""
    shape: ModelShape
    layout: Layout
    estimate: MemoryEstimate
    warnings: tuple[str, ...]


def make_plan(config: RunConfig, cluster: ClusterShape, *, suggest_fixes: bool = True) -> Plan:
    """Validate ``config`` for ``cluster`` and estimate its memory; ``PlanError`` if it cannot run there.

    With ``suggest_fixes``, a plan that does not fit in memory is re-planned under a few single changes
    (recompute, distributed optimizer, ..., more nodes), and the error lists those that fit.
    """
    shape = resolve_model_shape(config.actor.model)
    layout = plan_layout(config, shape, cluster)
    sized = apply_overrides(config, layout.overrides())
    assert isinstance(sized, RunConfig)
    sized.validate()
    _check_context_length(sized)
    estimate = estimate_memory(sized, shape, layout)
    problems = memory_problems(estimate)
    if problems:
        raise PlanError("; ".join(problems), fixes=_fitting_changes(config, cluster) if suggest_fixes else ())
    return Plan(config=sized, shape=shape, layout=layout, estimate=estimate, warnings=tuple(_warnings(sized, layout)))


def _check_context_length(config: RunConfig) -> None:
    context = config.rollout.sglang.context_length
    needed = config.data.prompt.max_prompt_tokens + config.rollout.sampling.max_new_tokens
    if config.rollout.engine == "sglang" and context is not None and context < needed:
        raise PlanError(
            f"rollout.sglang.context_length={context} is shorter than the longest sequence: "
            f"data.prompt.max_prompt_tokens + rollout.sampling.max_new_tokens = {needed}",
            fixes=[f"rollout.sglang.context_length={needed}"],
        )


def _candidate_changes(config: RunConfig, cluster: ClusterShape) -> Iterator[tuple[str, list[str], ClusterShape]]:
    """``(label, overrides, cluster)`` of single changes that lower the memory per GPU, cheapest first."""
    actor = config.actor
    if actor.recompute != "full":
        yield "actor.recompute=full", ["actor.recompute=full"], cluster
    if not actor.distributed_optimizer:
        yield "actor.distributed_optimizer=true", ["actor.distributed_optimizer=true"], cluster
    if actor.recompute != "full" and not actor.distributed_optimizer:
        both = ["actor.recompute=full", "actor.distributed_optimizer=true"]
        yield " ".join(both), both, cluster
    if actor.micro_batch_size > 1:
        yield "actor.micro_batch_size=1", ["actor.micro_batch_size=1"], cluster
    if not actor.freeze_vision:
        yield "actor.freeze_vision=true", ["actor.freeze_vision=true"], cluster
    if config.rollout.engine == "sglang":
        # Above 0.9, SGLang has too little left for its own activations and CUDA graphs.
        fraction = next((f for f in (0.85, 0.9) if f > (config.rollout.sglang.mem_fraction_static or 0)), None)
        if fraction:
            key = f"rollout.sglang.mem_fraction_static={fraction}"
            yield key, [key], cluster
    pipeline = actor.parallel.pipeline_degree * 2
    yield f"actor.parallel.pipeline_degree={pipeline}", [f"actor.parallel.pipeline_degree={pipeline}"], cluster
    for factor in (2, 4):
        nodes = cluster.nodes * factor
        yield f"--nodes {nodes}", [], dataclasses.replace(cluster, nodes=nodes)


def _fitting_changes(config: RunConfig, cluster: ClusterShape) -> list[str]:
    fits = []
    for label, overrides, shape in _candidate_changes(config, cluster):
        try:
            changed = apply_overrides(config, overrides)
            assert isinstance(changed, RunConfig)
            make_plan(changed, shape, suggest_fixes=False)
        except ValueError:  # PlanError, or a change invalid for this model (PP not dividing the layers)
            continue
        fits.append(label)
    return fits or ["none of: recompute, distributed optimizer, micro-batch 1, frozen vision tower, PP x 2, "
                    "4x the nodes fits alone; combine them, or use GPUs with more memory (cluster.gpu_memory_gib)"]  # fmt: skip


def _warnings(config: RunConfig, layout: Layout) -> Iterator[str]:
    actor, cluster = layout.actor, layout.cluster
    if actor.tensor > cluster.gpus_per_node:
        yield f"tensor parallelism ({actor.tensor}) spans nodes of {cluster.gpus_per_node} GPUs: slow all-reduces"
    if layout.idle_gpus:
        yield f"{layout.idle_gpus} GPU(s) stay idle (the actor takes multiples of TP x PP)"
    if config.rollout.engine == "sglang" and config.rollout.sglang.mem_fraction_static is None:
        yield "rollout.sglang.mem_fraction_static is unset: the plan assumes 0.85; SGLang chooses its own"
    if layout.colocated and not config.rollout.sglang.enable_memory_saver and config.rollout.engine == "sglang":
        yield "colocated engines need rollout.sglang.enable_memory_saver=true to release memory while training"
