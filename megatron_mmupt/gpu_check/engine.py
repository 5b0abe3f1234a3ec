"""The local rollout engine's generation speed at n=8: generated tokens per second, lengths stated.

The engine is the project's ``LocalEngine`` (transformers in this process, samples of a prompt sharing its
prefill) on the check's model in bf16, sampling at temperature 1 with no top-p/top-k cut. A short warm-up
generation runs first (kernel selection, allocator growth). Tokens/s counts generated tokens only (each
sample's response, its EOS included) over the wall time of ``generate``; prefill is inside that time.
"""

from __future__ import annotations

import time
from typing import Any

from megatron_mmupt.gpu_check.actors import ActorContext
from megatron_mmupt.gpu_check.workload import device_name, synchronize


def _local_engine() -> Any:
    # NOTE: one import site: the rollout package is being split into subpackages (issue 24, item 4).
    from megatron_mmupt.rollout.local.engine import LocalEngine

    return LocalEngine


def engine_section(ctx: ActorContext) -> tuple[dict[str, Any], list[str]]:
    from megatron_mmupt.data.prompt_batch import PromptBatch
    from megatron_mmupt.rollout.engine import SamplingConfig

    workload = ctx.workload
    engine_cls = _local_engine()
    start = time.perf_counter()
    engine = engine_cls(
        engine_cls.Config(model_path=str(ctx.model_dir), device=str(workload.real_device), dtype="bfloat16")
    )
    load_seconds = time.perf_counter() - start
    batch = PromptBatch(tuple(ctx.prompts))
    sampling = SamplingConfig(n=workload.samples, temperature=1.0, top_p=1.0, max_new_tokens=workload.engine_new_tokens)
    try:
        engine.generate(batch, SamplingConfig(n=workload.samples, temperature=1.0, top_p=1.0, max_new_tokens=4))
        synchronize(workload)
        start = time.perf_counter()
        groups = engine.generate(batch, sampling)
        synchronize(workload)
        seconds = time.perf_counter() - start
    finally:
        engine.shutdown()
    lengths = [len(r.response_token_ids) for g in groups for r in g.rollouts]
    generated = sum(lengths)
    figures = {
        "device": device_name(workload),
        "dtype": "bfloat16",
        "prompts": len(ctx.prompts),
        "n": workload.samples,
        "prompt_tokens": [p.num_tokens for p in ctx.prompts],
        "max_new_tokens": workload.engine_new_tokens,
        "response_tokens_mean": generated / len(lengths),
        "response_tokens_min": min(lengths),
        "generated_tokens": generated,
        "seconds": seconds,
        "tokens_per_second": generated / seconds,
        "load_seconds": load_seconds,
    }
    problems = [] if generated > 0 else ["the engine generated no tokens"]
    return figures, problems
