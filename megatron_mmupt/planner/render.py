"""A plan as the text ``train --dry-run`` prints: placement, then the memory table per GPU."""

from __future__ import annotations

from megatron_mmupt.planner.estimate import ActorMemory, EngineMemory, MemoryEstimate
from megatron_mmupt.planner.fit import gib
from megatron_mmupt.planner.layout import Layout
from megatron_mmupt.planner.model_shape import ModelShape
from megatron_mmupt.planner.params import model_params, vision_params
from megatron_mmupt.planner.plan import Plan
from megatron_mmupt.utils.table import format_table


def render_plan(plan: Plan) -> str:
    layout, cluster = plan.layout, plan.layout.cluster
    header = (
        f"dry run: {plan.config.name} on {plural(cluster.nodes, 'node')} x {plural(cluster.gpus_per_node, 'GPU')} "
        f"({gib(cluster.gpu_memory_bytes)} GiB each): fits"
    )
    lines = [header, "", *_model_lines(plan.shape, plan), *_actor_lines(plan), *_rollout_lines(plan)]
    lines.append(f"run with: {' '.join(layout.overrides())}")
    lines += [f"warning: {w}" for w in plan.warnings]
    lines += ["", memory_table(plan.estimate, layout)]
    return "\n".join(lines)


def _model_lines(shape: ModelShape, plan: Plan) -> list[str]:
    text = shape.text
    vision = vision_params(shape.vision) if shape.vision else 0
    total = model_params(shape)
    padded = plan.config.actor.parallel.padded_vocab_size(text.vocab_size)
    return [
        f"model:   {shape.name} ({shape.source}): {_billions(total)} parameters "
        f"(language {_billions(total - vision)}, vision {_billions(vision)})",
        f"         {text.num_layers} layers, hidden {text.hidden_size}, MLP {text.intermediate_size}, "
        f"{text.num_attention_heads} heads, {text.num_key_value_heads} KV heads x {text.head_dim}, "
        f"vocabulary {text.vocab_size} (padded to {padded} at TP {plan.layout.actor.tensor})",
    ]


def _actor_lines(plan: Plan) -> list[str]:
    actor, cfg = plan.layout.actor, plan.config.actor
    seq_len = plan.config.data.prompt.max_prompt_tokens + plan.config.rollout.sampling.max_new_tokens
    optimizer = "distributed optimizer" if cfg.distributed_optimizer else "optimizer replicated over DP"
    attention = "unfused attention" if cfg.spec == "local" else "fused attention"
    vision = "vision tower frozen" if cfg.freeze_vision else "vision tower trained"
    kl = "reference model for KL" if plan.config.algorithm.kl.coef > 0 else "no reference model"
    dtype = "fp32" if cfg.params_dtype == "fp32" else "bf16"
    return [
        f"actor:   {plural(actor.world_size, 'rank')} = TP {actor.tensor} x PP {actor.pipeline} x DP {actor.data}; "
        f"{dtype}, recompute {cfg.recompute}, {optimizer}, {attention}, {vision}, {kl}",
        f"         micro-batch {actor.micro_batch_size} x {seq_len} tokens; {actor.sequences_per_update} sequences "
        f"per optimizer step = {actor.num_micro_batches} micro-batches per DP rank",
    ]


def _rollout_lines(plan: Plan) -> list[str]:
    layout, engine = plan.layout, plan.estimate.engine
    engines = layout.engines
    kind = "SGLang" if engines.kind == "sglang" else "local"
    if not engines.on_gpu:
        return [f"rollout: {plural(engines.num_engines, kind + ' engine')} on CPUs"]
    per_node = layout.cluster.gpus_per_node // engines.tensor
    where = (
        f"colocated with the actor ({per_node} per node; engine memory released while the actor trains"
        f"{', the actor offloaded to host memory while they generate' if plan.estimate.offload_actor else ''})"
        if layout.colocated
        else f"on {engines.num_gpus} GPUs of their own, the actor on {layout.actor.world_size}"
    )
    count = plural(engines.num_engines, kind + " engine")
    lines = [f"rollout: {count} x TP {engines.tensor} = {engines.num_gpus} GPUs, {where}"]
    if engine is not None:
        lines.append("         " + _kv_line(engine))
    if plan.estimate.offload_actor:
        actor = plan.estimate.actor  # gradients are dropped, not kept
        host = (actor.weights + actor.optimizer + actor.reference) * layout.cluster.gpus_per_node
        lines.append(f"         actor offload: {gib(host)} GiB of host memory per node (weights, optimizer state"
                     f"{', reference' if actor.reference else ''}; gradients are dropped)")  # fmt: skip
    return lines


def _kv_line(engine: EngineMemory) -> str:
    per_token = f"KV cache {engine.kv_per_token / 1024:.1f} KiB per token per GPU"
    group = f"groups of {engine.group_tokens} tokens ({gib(engine.group_bytes)} GiB)"
    if engine.kv_pool is None:
        return f"{per_token}, allocated on demand: one of the {group}"
    tokens = max(engine.kv_pool, 0) // engine.kv_per_token
    return f"{per_token}; pool {gib(engine.kv_pool)} GiB = {tokens} tokens = {engine.groups_in_pool} {group}"


def memory_table(estimate: MemoryEstimate, layout: Layout) -> str:
    """The components of both phases, in GiB; colocated phases share GPUs, disaggregated ones do not."""
    actor, engine = estimate.actor, estimate.engine
    columns = ("training", "rollout") if estimate.colocated else ("actor GPUs", "engine GPUs")
    in_rollout = "host" if estimate.offload_actor else "-"  # where the actor's state is while engines generate
    rows = [[name, gib(value), gib(value) if estimate.rollout_resident else in_rollout]
            for name, value in _state_rows(actor)]  # fmt: skip
    rows += [[name, gib(value), "-"] for name, value in _activation_rows(actor)]
    if engine is not None:
        kv = engine.kv_pool if engine.kv_pool is not None else engine.group_bytes
        rows.append([f"engine weights (TP {layout.engines.tensor})", "-", gib(engine.weights)])
        rows.append(["engine KV cache" + (" pool" if engine.kv_pool is not None else ", one group"), "-", gib(kv)])
    rows.append(["runtime reserve", gib(estimate.reserve), gib(estimate.reserve) if engine is not None else "-"])
    if engine is not None and estimate.offload_actor:  # the sync's peak: no KV cache yet, both weight copies
        both = engine.weights + actor.weights + actor.reference + estimate.reserve
        rows.append(["weight sync (actor + engine weights, reserve)", "-", gib(both)])
    rows.append(["total", gib(estimate.training_peak), gib(estimate.rollout_peak) if engine is not None else "-"])
    stage = f"pipeline stage {actor.stage} of {layout.actor.pipeline}"
    title = f"memory per GPU, GiB of {gib(estimate.gpu_memory)} ({stage}, the most loaded)"
    return format_table(["component", *columns], rows, title=title)


def _state_rows(actor: ActorMemory) -> list[tuple[str, int]]:
    rows = [
        ("actor weights", actor.weights),
        ("actor gradients (fp32)", actor.gradients),
        ("optimizer state (fp32)", actor.optimizer),
    ]
    return rows + ([("reference model", actor.reference)] if actor.reference else [])


def _activation_rows(actor: ActorMemory) -> list[tuple[str, int]]:
    return [
        ("activations: decoder layers", actor.layer_activations),
        ("activations: vision tower", actor.vision_activations),
        ("activations: logits", actor.logit_activations),
    ]


def _billions(count: int) -> str:
    if count >= 10**9:
        return f"{count / 1e9:.2f}B"
    return f"{count / 1e6:.2f}M" if count >= 10**6 else f"{count:,}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
