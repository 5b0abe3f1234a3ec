"""The dry-run planner: a run's configuration on a cluster shape -> placement and memory per GPU, no GPU needed.

model_shape.py  sizes from a config.json or a Qwen2.5-VL preset
params.py       parameter counts: the model, one GPU's share
layout.py       actor TP/PP/DP and rollout engines on nodes x GPUs
memory.py       the formulas (model state, activations, KV cache)
estimate.py     the formulas applied to a layout: the actor's most loaded stage, the engines
fit.py          what does not fit, in words
plan.py         all of it, with checked fixes when something does not fit
render.py       the text ``train --dry-run`` prints
overlap.py      what the rollout ahead of training saves per step, from given stage times
"""

from __future__ import annotations

from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.planner.errors import PlanError
from megatron_mmupt.planner.layout import ClusterShape
from megatron_mmupt.planner.memory import GIB
from megatron_mmupt.planner.overlap import StageTimes, estimate_overlap, render_overlap
from megatron_mmupt.planner.plan import Plan, make_plan

__all__ = [
    "ClusterShape", "Plan", "PlanError", "StageTimes", "cluster_shape", "dry_run", "dry_run_recipe", "make_plan",
]  # fmt: skip


def cluster_shape(config: RunConfig, *, nodes: int, gpus_per_node: int) -> ClusterShape:
    """The cluster of ``nodes x gpus_per_node`` GPUs of ``cluster.gpu_memory_gib`` each."""
    return ClusterShape(
        nodes=nodes, gpus_per_node=gpus_per_node, gpu_memory_bytes=int(config.cluster.gpu_memory_gib * GIB)
    )


def dry_run(config: RunConfig, *, nodes: int, gpus_per_node: int, stage_times: StageTimes | None = None) -> str:
    """The plan's text; ``PlanError`` (a ``ConfigError``) when the run cannot work on this cluster. With
    ``stage_times``, also what the rollout ahead of training would save per step (``planner/overlap.py``)."""
    from megatron_mmupt.planner.render import render_plan

    plan = make_plan(config, cluster_shape(config, nodes=nodes, gpus_per_node=gpus_per_node))
    text = render_plan(plan)
    if stage_times is not None:
        colocated = plan.layout.colocated
        estimate = estimate_overlap(stage_times, num_steps=config.trainer.num_steps,
                                    save_every=config.checkpoint.save_every, colocated=colocated)  # fmt: skip
        text += "\n\n" + render_overlap(estimate, colocated=colocated)
    return text


def dry_run_recipe(
    recipe: str, overrides: list[str], *, nodes: int, gpus_per_node: int, stage_times: StageTimes | None = None
) -> str:
    """``train --dry-run``: the recipe with its overrides, validated once sized to the cluster (not before,
    so that ``trainer.world_size`` need not match a shape the plan replaces it for)."""
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.recipes import load_recipe

    config = apply_overrides(load_recipe(recipe), overrides)
    assert isinstance(config, RunConfig)
    return dry_run(config, nodes=nodes, gpus_per_node=gpus_per_node, stage_times=stage_times)
