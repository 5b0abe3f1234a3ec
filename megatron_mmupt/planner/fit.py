"""Does an estimate fit its GPUs? The problems, each in words a user can act on."""

from __future__ import annotations

from megatron_mmupt.planner.estimate import MemoryEstimate
from megatron_mmupt.planner.memory import GIB


def memory_problems(estimate: MemoryEstimate) -> list[str]:
    """Empty when both phases fit; otherwise one sentence per phase that does not."""
    problems = []
    gpu = estimate.gpu_memory
    if estimate.training_peak > gpu:
        actor = estimate.actor
        problems.append(
            f"training needs {gib(estimate.training_peak)} GiB per GPU, more than the {gib(gpu)} GiB there are "
            f"(pipeline stage {actor.stage}: model state {gib(actor.resident)}, activations "
            f"{gib(actor.activations)}, reserve {gib(estimate.reserve)})"
        )
    engine = estimate.engine
    if engine is None:
        return problems
    if engine.kv_pool is None:  # local engines allocate their cache on demand
        if estimate.rollout_peak > gpu:
            problems.append(
                f"rollout needs {gib(estimate.rollout_peak)} GiB per GPU (engine weights, one group's KV cache"
                f"{', the resident actor' if estimate.rollout_resident else ''}), more than the {gib(gpu)} GiB "
                "there are"
            )
    elif engine.kv_pool < engine.group_bytes:
        resident = estimate.rollout_resident
        beside = f" beside the actor's resident {gib(resident)} GiB" if resident else ""
        problems.append(
            f"the SGLang KV cache pool ({gib(max(engine.kv_pool, 0))} GiB per GPU{beside}) cannot hold one group "
            f"at full length ({engine.group_tokens} tokens, {gib(engine.group_bytes)} GiB)"
        )
    return problems


def gib(num_bytes: int | float) -> str:
    return f"{num_bytes / GIB:.1f}"
