"""The actor's offload and onload against the allocator, and the planner's memory estimate beside the peak.

What colocated training relies on (``trainer/gpu_sharing.py``): ``offload`` frees as many device bytes as it
reports (SGLang sizes its KV pool from what is free), ``onload`` restores every weight bit for bit. Measured
after one GRPO step, so Adam's state exists: the policy's weights, gradients and optimizer state and the
reference's weights, as ``ActorWorker.offload`` does.

Two measures of device memory: ``torch.cuda.memory_allocated`` (GPU only: the allocator's view, the one that
matters), and the bytes of the distinct storages reachable from the actors (weights, ``main_grad`` buffers,
optimizer state), counted independently of the actor's own bookkeeping; on the CPU only the count exists.
The planner's estimate (``planner/estimate.py:actor_memory``) is computed for the same model, batch and
lengths, without its runtime reserve (CUDA contexts, NCCL), which the allocator does not see.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from megatron_mmupt.gpu_check.actors import ActorContext, grpo_inputs
from megatron_mmupt.gpu_check.grpo import grpo_step
from megatron_mmupt.gpu_check.workload import Workload, device_name, same_bytes, synchronize

MIB = 1 << 20


def _reachable_tensors(actor: Any) -> Iterator[torch.Tensor]:
    model = actor.unwrapped
    yield from model.parameters()
    yield from model.buffers()
    yield from (p.main_grad for p in model.parameters() if getattr(p, "main_grad", None) is not None)
    if actor.optimizer is not None:
        for part in getattr(actor.optimizer, "chained_optimizers", [actor.optimizer]):
            yield from (p for group in part.optimizer.param_groups for p in group["params"])
            yield from (v for state in part.optimizer.state.values() for v in state.values() if torch.is_tensor(v))


def counted_bytes(actors: list[Any], device: torch.device) -> int:
    """Bytes of the distinct storages on ``device`` reachable from ``actors`` (0 for a storage offloaded)."""
    seen: set[int] = set()
    total = 0
    for actor in actors:
        for tensor in _reachable_tensors(actor):
            storage = tensor.untyped_storage()
            if tensor.device.type == device.type and storage._cdata not in seen:
                seen.add(storage._cdata)
                total += storage.nbytes()
    return total


def _allocated(workload: Workload) -> int | None:
    synchronize(workload)
    return torch.cuda.memory_allocated() if workload.mode == "gpu" else None


def _host_copy(actor: Any) -> list[torch.Tensor]:
    """The policy's weights in host memory (3 GB at the GPU sizes): compared byte for byte after onload."""
    return [p.detach().to("cpu", copy=True) for p in actor.unwrapped.parameters()]


def _unchanged(actor: Any, saved: list[torch.Tensor]) -> bool:
    return all(same_bytes(p.detach().cpu(), s) for p, s in zip(actor.unwrapped.parameters(), saved, strict=True))


def measure_offload(ctx: ActorContext) -> dict[str, Any]:
    from megatron_mmupt.actor.megatron.offload import StateGroup

    policy, reference = ctx.actors()
    workload, device = ctx.workload, ctx.workload.device
    if ctx.steps_taken == 0:  # Adam allocates its state at the first step: offload must see it
        grpo_step(ctx, grpo_inputs(workload, ctx.model_dir, ctx.prompts))
    saved = _host_copy(policy)
    before = (_allocated(workload), counted_bytes([policy, reference], device))
    start = time.perf_counter()
    freed = policy.offload(list(StateGroup)) + reference.offload([StateGroup.WEIGHTS])
    synchronize(workload)
    offload_seconds = time.perf_counter() - start
    after = (_allocated(workload), counted_bytes([policy, reference], device))
    start = time.perf_counter()
    restored = policy.onload() + reference.onload()
    synchronize(workload)
    onload_seconds = time.perf_counter() - start
    back = (_allocated(workload), counted_bytes([policy, reference], device))
    return {
        "allocated_before": before[0], "allocated_after_offload": after[0], "allocated_after_onload": back[0],
        "counted_before": before[1], "counted_after_offload": after[1], "counted_after_onload": back[1],
        "freed_bytes": freed, "restored_bytes": restored, "offload_seconds": offload_seconds,
        "onload_seconds": onload_seconds, "weights_bit_exact": _unchanged(policy, saved),
    }  # fmt: skip


def planner_estimate(ctx: ActorContext) -> dict[str, int]:
    """The planner's per-GPU training memory for the check's model, batch and lengths (TP = PP = DP = 1)."""
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.config.run_config import RunConfig
    from megatron_mmupt.planner.estimate import actor_memory
    from megatron_mmupt.planner.layout import ActorLayout
    from megatron_mmupt.planner.model_shape import resolve_model_shape

    workload = ctx.workload
    prompt_tokens = max(p.num_tokens for p in ctx.prompts)
    config = apply_overrides(
        RunConfig(),
        [f"actor.model={ctx.model_dir}", "actor.params_dtype=bf16", "actor.spec=local",
         f"actor.micro_batch_size={workload.micro_batch_size}", f"data.prompt.max_prompt_tokens={prompt_tokens}",
         f"data.images.max_pixels={workload.image_side**2}", f"rollout.sampling.n={workload.samples}",
         f"rollout.sampling.max_new_tokens={workload.response_tokens}"],
    )  # fmt: skip
    sequences = workload.num_prompts * workload.samples
    layout = ActorLayout(tensor=1, pipeline=1, data=1, micro_batch_size=workload.micro_batch_size,
                         sequences_per_update=sequences)  # fmt: skip
    memory = actor_memory(config, resolve_model_shape(str(ctx.model_dir)), layout, stage=0)
    return {
        "weights": memory.weights, "gradients": memory.gradients, "optimizer": memory.optimizer,
        "reference": memory.reference, "activations": memory.activations, "resident": memory.resident,
        "training_peak": memory.resident + memory.activations,
    }  # fmt: skip


def offload_section(ctx: ActorContext) -> tuple[dict[str, Any], list[str]]:
    measured = measure_offload(ctx)
    planned = planner_estimate(ctx)
    gpu = ctx.workload.mode == "gpu"
    source = "allocated" if gpu else "counted"  # the CPU has no allocator statistics
    drop = measured[f"{source}_before"] - measured[f"{source}_after_offload"]
    figures = {
        "device": device_name(ctx.workload),
        **measured,
        "drop_source": source,
        "allocated_drop_bytes": drop,
        "planner": planned,
        "planner_resident_bytes": planned["resident"],
        "measured_resident_bytes": measured[f"{source}_before"],
        "planner_training_peak_bytes": planned["training_peak"],
        "measured_peak_bytes": ctx.step_peak_bytes,
    }
    problems = []
    if abs(drop - measured["freed_bytes"]) > max(0.01 * measured["freed_bytes"], MIB):
        problems.append(f"the actor reports {measured['freed_bytes']} bytes freed, the {source} bytes fell by {drop}")
    if abs(measured[f"{source}_after_onload"] - measured[f"{source}_before"]) > MIB:
        problems.append(
            f"after onload {measured[f'{source}_after_onload']} {source} bytes, before offload {measured[f'{source}_before']}"
        )
    if not measured["weights_bit_exact"]:
        problems.append("the policy's weights changed across offload and onload")
    return figures, problems
