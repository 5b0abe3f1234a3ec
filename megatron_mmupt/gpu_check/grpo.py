"""One GRPO step of the Megatron actor: old log-probs, reference log-probs, the update; seconds, tokens/s, MFU.

The step is the trainer's (``train.py``): the policy scores the batch (old log-probs, ``trainer.old_logprobs=
recompute``), the frozen reference scores it (the KL term), advantages come from ``make_train_batch``, and the
policy takes one optimizer step. It runs twice; the first step pays for cuBLAS handles and the allocator's
growth, the second is the one reported (both totals are in the report).

MFU, stated as model FLOPs (PaLM, Chowdhery et al. 2022, appendix B) over the card's dense bf16 peak:

    F (forward, per token) = 2 P + 4 L q S
        P = L (h (q + 2 kv) + q h + 3 f h) + V h    matmul weights: q/k/v, output projection, SwiGLU MLP, LM head
        4 L q S                                    attention scores and values, full S x S (no causal discount)
    old and reference log-probs: F per token each; the update: 3 F (forward + backward)
    MFU = sum over stages of (FLOPs per token x tokens) / (seconds x peak)

with h hidden, q = heads x head_dim, kv = KV heads x head_dim, f the MLP width, L layers, V the checkpoint's
vocabulary (Megatron's padding is not counted), S the padded sequence length and tokens the real (unpadded)
prompt and response tokens. Not counted: the vision tower, norms, rope, softmax, the embedding lookup, and the
optimizer step (all small beside the matmuls at these sizes).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import torch

from megatron_mmupt.gpu_check.actors import TEMPERATURE, ActorContext, GrpoInputs, grpo_inputs
from megatron_mmupt.gpu_check.workload import Workload, bf16_peak_flops, device_name, synchronize

MFU_FORMULA = (
    "F = 2P + 4LqS per token forward, P = L(h(q+2kv) + qh + 3fh) + Vh; old and reference log-probs F each, "
    "update 3F; MFU = sum(FLOPs per token x real tokens) / (seconds x bf16 dense peak)"
)
OLD_VS_REF_TOLERANCE = 0.1
STAGE_PASSES = {"old_logprobs": 1, "ref_logprobs": 1, "update": 3}
"""Forward-pass equivalents of each stage (backward = 2 forwards)."""


def forward_flops_per_token(workload: Workload, seq_len: int) -> float:
    h, f, layers = workload.hidden_size, workload.intermediate_size, workload.num_layers
    head_dim = h // workload.num_heads
    q, kv = workload.num_heads * head_dim, workload.num_kv_heads * head_dim
    matmul_params = layers * (h * (q + 2 * kv) + q * h + 3 * f * h) + workload.vocab_size * h
    return 2.0 * matmul_params + 4.0 * layers * q * seq_len


@contextlib.contextmanager
def _timed(times: dict[str, float], name: str, workload: Workload) -> Iterator[None]:
    synchronize(workload)
    start = time.perf_counter()
    yield
    synchronize(workload)
    times[name] = time.perf_counter() - start


def grpo_step(ctx: ActorContext, inputs: GrpoInputs) -> tuple[dict[str, float], dict[str, Any]]:
    """One step; returns the seconds of each stage and what the step produced (metrics, log-prob checks)."""
    from megatron_mmupt.algorithm.batch import make_train_batch

    policy, reference = ctx.actors()
    sequences, workload, times = inputs.sequences, ctx.workload, {}
    with _timed(times, "old_logprobs", workload):
        old = policy.logprobs(sequences, TEMPERATURE)
    with _timed(times, "ref_logprobs", workload):
        ref = reference.logprobs(sequences, TEMPERATURE)
    old, ref = old.cpu(), ref.cpu()  # host memory, where the actor returns them and the driver keeps the rewards
    mask = sequences.response_mask
    batch, _ = make_train_batch(
        rewards=inputs.rewards, group_ids=inputs.group_ids, response_mask=mask,
        truncated=torch.zeros(sequences.num_rows, dtype=torch.bool), cfg=policy.algorithm,
        old_logprobs=old, ref_logprobs=ref,
    )  # fmt: skip
    if workload.mode == "gpu":
        torch.cuda.reset_peak_memory_stats()
    with _timed(times, "update", workload):
        metrics = policy.train_step(sequences, batch, TEMPERATURE)
    if workload.mode == "gpu":
        ctx.step_peak_bytes = torch.cuda.max_memory_allocated()
    ctx.steps_taken += 1
    produced = {
        "metrics": metrics,
        "old_logprob_mean": float(old[mask].mean()),
        "old_logprob_max": float(old[mask].max()),
        "old_vs_ref_max_abs_diff": float((old - ref)[mask].abs().max()),
    }
    return times, produced


def grpo_section(ctx: ActorContext) -> tuple[dict[str, Any], list[str]]:
    workload = ctx.workload
    start = time.perf_counter()
    ctx.actors()
    synchronize(workload)
    build_seconds = time.perf_counter() - start
    inputs = grpo_inputs(workload, ctx.model_dir, ctx.prompts)
    first_times, first = grpo_step(ctx, inputs)
    times, produced = grpo_step(ctx, inputs)
    seq_len = int(inputs.sequences.input_ids.shape[1])
    per_token = forward_flops_per_token(workload, seq_len)
    flops = {stage: passes * per_token * inputs.num_tokens for stage, passes in STAGE_PASSES.items()}
    step_seconds = sum(times.values())
    peak = bf16_peak_flops(device_name(workload)) if workload.mode == "gpu" else None
    figures: dict[str, Any] = {
        "device": device_name(workload),
        "sequences": list(inputs.sequences.input_ids.shape),
        "real_tokens": inputs.num_tokens,
        "response_tokens_per_sequence": workload.response_tokens,
        "actor_build_seconds": build_seconds,
        "stage_seconds": times,
        "first_step_stage_seconds": first_times,
        "step_seconds": step_seconds,
        "tokens_per_second": inputs.num_tokens / step_seconds,
        "stage_tflops_per_second": {s: flops[s] / times[s] / 1e12 for s in times},
        "model_tflops_per_step": sum(flops.values()) / 1e12,
        "bf16_peak_tflops": peak / 1e12 if peak else None,
        "mfu": sum(flops.values()) / step_seconds / peak if peak else None,
        "stage_mfu": {s: flops[s] / times[s] / peak for s in times} if peak else None,
        "mfu_formula": MFU_FORMULA,
        "grad_norm": produced["metrics"].get("actor/grad_norm"),
        "update_skipped": produced["metrics"].get("actor/update_skipped"),
        "old_logprob_mean": produced["old_logprob_mean"],
        "first_step_old_vs_ref_max_abs_diff": first["old_vs_ref_max_abs_diff"],
    }
    return figures, _problems(figures, produced)


def _problems(figures: dict[str, Any], produced: dict[str, Any]) -> list[str]:
    problems = []
    if not all(math.isfinite(v) for v in produced["metrics"].values()):
        problems.append(f"non-finite training metrics: {produced['metrics']}")
    if not (math.isfinite(produced["old_logprob_max"]) and produced["old_logprob_max"] <= 0.0):
        problems.append(f"old log-probs must be finite and <= 0, the largest is {produced['old_logprob_max']}")
    if not figures["grad_norm"] or figures["update_skipped"]:
        problems.append(
            f"the update did not happen: grad_norm={figures['grad_norm']}, skipped={figures['update_skipped']}"
        )
    # Same weights, same batch: equal on the CPU; on a GPU two kernel orders may move bf16 logits by an ulp (a
    # few hundredths of a log-prob), a different model by whole units.
    if figures["first_step_old_vs_ref_max_abs_diff"] > OLD_VS_REF_TOLERANCE:
        problems.append(
            "before any update the policy and its reference hold the same weights, yet their log-probs differ by "
            f"{figures['first_step_old_vs_ref_max_abs_diff']:.3g}"
        )
    return problems
