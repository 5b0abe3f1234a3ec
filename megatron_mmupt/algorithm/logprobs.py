"""Token log-probs and entropy from logits, on full-vocab or vocab-parallel (Megatron-Core TP) logits.

One fused autograd function computes, for every token position, ``log softmax(z / tau)[target]`` and the entropy
``H = -sum_v p_v log p_v`` of ``p = softmax(z / tau)`` (``tau``: the rollout sampling temperature), where the
vocabulary may be split over the ranks of ``tp_group``: rank ``r`` holds ``logits[..., V/tp]`` for the ids
``[r V/tp, (r+1) V/tp)``, as Megatron's ``ColumnParallelLinear`` output layer produces them.

Forward, over the ``M`` flattened token positions (two collectives in total, however many chunks):
  1. ``m = max_v z`` (all-reduce MAX), read-only;
  2. per chunk of rows: ``y = z - m``, ``e = exp(y)``; ``s = sum_v e``, ``u = sum_v e y``; the target logit
     from the rank that owns it; one all-reduce SUM of ``[s, u, z_target, owner_count]``;
  3. ``lse = m + log s``; ``logprob = z_target - lse``; ``H = log s - u / s``. (``H = lse - E_p[z]`` written with
     ``y <= 0`` so that no large, nearly equal terms cancel.)
Backward recomputes ``p`` per chunk from the saved ``lse`` (``lse`` and ``H``: 2 floats per token are saved; no
softmax is kept) and needs no collective, because both gradients are local to a shard::

    d logprob / d z_v = 1[v = target] - p_v            d H / d z_v = p_v (E_p[y] - y_v) = -p_v (H + z_v - lse)

It is one fused expression per element (4 passes over a chunk), written straight into the gradient for fp32.

Peak extra memory is therefore O(chunk_rows x V/tp) on top of the logits and their gradient, against
O(M x V) for ``log_softmax`` + ``exp`` + product in plain autograd (see ``tools/bench_logprobs.py``).
Compare Megatron-LM ``megatron/core/tensor_parallel/cross_entropy.py``, which keeps the full softmax for
backward and overwrites its input, and verl's ``vocab_parallel_entropy``.

Logits must be finite (``-inf`` included: ``0 * -inf`` is NaN). Rows whose logits are not finite give NaN
outputs (reported by :mod:`.numerics` in the objective) and a zero gradient, so they cannot poison the model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

CPU_CHUNK_ELEMENTS = 1 << 21
"""Default chunk on CPU, in elements (8 MiB per fp32 temporary): the few passes over a chunk then hit the cache.
Measured on a 2-core Xeon VM (4 MiB L2, [2048, 32768] fp32 logits): 64-row chunks ran fwd+bwd about 2x faster
than 512-row ones."""
ACCELERATOR_CHUNK_ELEMENTS = 1 << 25
"""Default chunk on GPUs, in elements (128 MiB per fp32 temporary): large enough that kernel launches do not count."""


def token_logprobs_and_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    tp_group: dist.ProcessGroup | None = None,
    temperature: float = 1.0,
    with_entropy: bool = True,
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-prob of each target token and the entropy of each position's distribution, differentiable.

    Args:
        logits: ``# (..., V/tp)`` float32 or bf16/fp16 (computed in fp32 chunk by chunk). Any leading shape,
            e.g. Megatron's ``(S, B, V/tp)`` with targets ``(S, B)``; contiguous avoids a copy.
        targets: ``# (...)`` long, *global* vocabulary ids in ``[0, V)`` (a ``ValueError`` otherwise).
        tp_group: the tensor-parallel group over which the vocabulary is split; ``None`` = full vocabulary in
            this process (no collective is called, even if ``torch.distributed`` is initialized).
        temperature: logits are divided by it (the sampling temperature of the rollout), > 0.
        with_entropy: also compute the entropy (one more multiply-add pass per chunk).
        chunk_rows: token positions per chunk; default ``CPU_CHUNK_ELEMENTS // (V/tp)`` on CPU,
            ``ACCELERATOR_CHUNK_ELEMENTS // (V/tp)`` on GPUs.

    Returns:
        ``(logprobs # (...), entropy # (...) or None)``, float32, identical on every rank of ``tp_group``.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree on (...)")
    vocab_local = logits.shape[-1]
    if chunk_rows is None:
        budget = CPU_CHUNK_ELEMENTS if logits.device.type == "cpu" else ACCELERATOR_CHUNK_ELEMENTS
        chunk_rows = max(1, budget // max(vocab_local, 1))
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be > 0, got {chunk_rows}")
    logprobs, entropy = _LogProbsEntropy.apply(
        logits.reshape(-1, vocab_local), targets.reshape(-1), tp_group, float(temperature), with_entropy, chunk_rows
    )
    entropy = entropy.view(targets.shape) if with_entropy else None
    return logprobs.view(targets.shape), entropy


class _LogProbsEntropy(torch.autograd.Function):
    """logits ``# (M, V/tp)``, targets ``# (M,)`` -> logprobs ``# (M,)``, entropy ``# (M,)`` (see module doc)."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: torch.Tensor,
        targets: torch.Tensor,
        tp_group: dist.ProcessGroup | None,
        temperature: float,
        with_entropy: bool,
        chunk_rows: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        num_rows, vocab_local = logits.shape
        vocab_start = dist.get_rank(tp_group) * vocab_local if tp_group is not None else 0
        # max(z / tau) == max(z) / tau for tau > 0, so the max needs no scaled copy of the logits.
        m = logits.amax(dim=-1).float()  # (M,)
        if tp_group is not None:
            dist.all_reduce(m, op=dist.ReduceOp.MAX, group=tp_group)
        m = m / temperature

        local = targets - vocab_start  # (M,)
        owned = (local >= 0) & (local < vocab_local)
        index = local.clamp(0, vocab_local - 1).unsqueeze(-1)  # (M, 1)
        target_logit = logits.gather(-1, index).squeeze(-1).float() / temperature
        # Columns: sum_v e, sum_v e*y, target logit, number of ranks owning the target; one all-reduce for all.
        stats = torch.zeros(num_rows, 4, dtype=torch.float32, device=logits.device)
        stats[:, 2] = torch.where(owned, target_logit, 0.0)
        stats[:, 3] = owned.float()
        for start in range(0, num_rows, chunk_rows):
            stop = min(start + chunk_rows, num_rows)
            y = _shifted(logits[start:stop], temperature, m[start:stop, None])  # (C, V/tp), <= 0
            e = y.exp()
            stats[start:stop, 0] = e.sum(dim=-1)
            if with_entropy:
                # vecdot avoids materializing e * y (and is much faster than a batched (1, V) @ (V, 1) bmm).
                stats[start:stop, 1] = torch.linalg.vecdot(e, y)
            del y, e
        if tp_group is not None:
            dist.all_reduce(stats, group=tp_group)
        if bool((stats[:, 3] != 1).any()):
            vocab = vocab_local * (dist.get_world_size(tp_group) if tp_group is not None else 1)
            raise ValueError(f"targets must be vocabulary ids in [0, {vocab}); some are not")

        log_s = stats[:, 0].log()  # (M,)
        lse = m + log_s
        logprobs = stats[:, 2] - lse
        if with_entropy:
            entropy = log_s - stats[:, 1] / stats[:, 0]  # log s - E_p[y]
        else:
            entropy = logprobs.new_zeros(0)
            ctx.mark_non_differentiable(entropy)
        ctx.save_for_backward(logits, targets, lse, entropy)
        ctx.vocab_start, ctx.temperature, ctx.chunk_rows = vocab_start, temperature, chunk_rows
        ctx.set_materialize_grads(False)
        return logprobs, entropy

    @staticmethod
    def backward(ctx: Any, grad_logprobs: torch.Tensor | None, grad_entropy: torch.Tensor | None) -> tuple:
        logits, targets, lse, entropy = ctx.saved_tensors
        if entropy.numel() == 0:  # the entropy was not computed, so nothing can depend on it
            grad_entropy = None
        if grad_logprobs is None and grad_entropy is None:
            return (None,) * 6
        num_rows, vocab_local = logits.shape
        # With y' = z/tau - lse and p = exp(y'), both gradients fold into one expression per element:
        #   d/d logits = p * (c + a * y') + b * 1[v = target],
        #   a = -gH / tau,  b = glp / tau,  c = -(gH * H + glp) / tau   (per row),
        # because d logprob/dz = 1[v = target] - p and dH/dz = p * (E_p[y'] - y') with E_p[y'] = -H.
        b = grad_logprobs / ctx.temperature if grad_logprobs is not None else None
        c = -b if b is not None else torch.zeros_like(lse)
        a = None
        if grad_entropy is not None:
            a = -grad_entropy / ctx.temperature
            c = c + a * entropy
        local = targets - ctx.vocab_start
        owned = (local >= 0) & (local < vocab_local)
        index = local.clamp(0, vocab_local - 1).unsqueeze(-1)  # (M, 1)
        onehot = torch.where(owned, b, 0.0).unsqueeze(-1) if b is not None else None  # (M, 1)
        bad_rows = ~torch.isfinite(lse)  # rows with non-finite logits get a zero gradient
        any_bad = bool(bad_rows.any())  # one host sync per backward, not per chunk
        grad = torch.empty_like(logits)
        write_direct = grad.dtype == torch.float32  # else compute in fp32, then cast into grad
        for start in range(0, num_rows, ctx.chunk_rows):
            sl = slice(start, min(start + ctx.chunk_rows, num_rows))
            y = _shifted(logits[sl], ctx.temperature, lse[sl, None])  # y' (C, V/tp)
            p = y.exp()  # softmax, recomputed
            out = grad[sl] if write_direct else p
            if a is not None:
                torch.addcmul(c[sl, None], y, a[sl, None], out=y)  # y := c + a * y'
                torch.mul(p, y, out=out)
            else:
                torch.mul(p, c[sl, None], out=out)
            del y, p
            if onehot is not None:
                out.scatter_add_(-1, index[sl], onehot[sl])
            if any_bad:
                out.masked_fill_(bad_rows[sl, None], 0.0)
            if not write_direct:
                grad[sl].copy_(out)
        return (grad, None, None, None, None, None)


def _shifted(chunk: torch.Tensor, temperature: float, shift: torch.Tensor) -> torch.Tensor:
    """``chunk / temperature - shift`` as a *new* float32 tensor ``# (C, V/tp)``, with one temporary at most.

    Forward and backward both use it, so the logits are scaled identically in both.
    """
    if chunk.dtype != torch.float32:
        y = chunk.float()  # a fresh copy: safe to modify in place
        if temperature != 1.0:
            y.div_(temperature)
        return y.sub_(shift)
    if temperature != 1.0:
        return (chunk / temperature).sub_(shift)
    return chunk - shift
