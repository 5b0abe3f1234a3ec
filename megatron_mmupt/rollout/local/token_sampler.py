"""The next token of every row of a decode batch, and its rollout log-prob.

Per row and step, with logits ``z`` (V,) of the model (plus a request's ``logit_bias``, SGLang's order):

    logprob  = log_softmax(z / T)[y]                           # full vocabulary: what the trainer recomputes
    y        ~ softmax((z masked) / T) cut by top-k and top-p   # masked: suppressed tokens get -inf

so the log-prob ignores the truncation (top-k, top-p) and the suppression of special tokens, which constrain
*what* is drawn but not the distribution it is scored under; SGLang's ``return_logprob`` is the same quantity
(``log(probs)`` before its top-k/top-p sampling kernel). Greedy rows (``T < 1e-6``) take the argmax of the
masked logits and report ``log_softmax(z)[y]`` (temperature 1), as SGLang does.

Reproducibility: row ``r`` draws its uniforms from its own ``torch.Generator`` seeded with the sample's
seed, one uniform per step, and picks the token by inverting the cumulative distribution (float64). A
sample therefore depends only on its seed and the model's logits, not on the other rows of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from megatron_mmupt.rollout.engine import EngineError, SamplingConfig


class TokenSampler:
    """Samples next tokens for the rows of one decode batch.

    Args:
        sampling: temperature, top-p, top-k (``n``, ``max_new_tokens`` are the decode loop's business).
        suppress: ``# (V,)`` bool, tokens that may not be drawn (``TokenPolicy.suppress_mask``).
        seeds: ``(R,)`` one seed per row of the whole batch; rows are referred to by index into it.
        logit_bias: ``# (V,)`` float added to the logits first (SGLang's ``logit_bias``), or ``None``.
    """

    def __init__(
        self,
        sampling: SamplingConfig,
        suppress: torch.Tensor,
        seeds: Sequence[int],
        logit_bias: torch.Tensor | None = None,
    ) -> None:
        self.sampling = sampling
        self.suppress = suppress
        self.logit_bias = logit_bias
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __call__(self, logits: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``logits # (C, V)`` of rows ``rows # (C,)`` -> ``(tokens # (C,) long, logprobs # (C,) float32)``."""
        z = logits.float()
        if self.logit_bias is not None:
            z = z + self.logit_bias
        if self.sampling.is_greedy:
            logprobs = torch.log_softmax(z, dim=-1)
            tokens = z.masked_fill(self.suppress, float("-inf")).argmax(dim=-1)
        else:
            scaled = z / self.sampling.temperature
            logprobs = torch.log_softmax(scaled, dim=-1)
            probs = torch.softmax(scaled.masked_fill(self.suppress, float("-inf")), dim=-1)
            tokens = self._draw(probs, self._uniforms(rows).to(probs.device))
        chosen = logprobs.gather(1, tokens[:, None]).squeeze(1)
        if not torch.isfinite(chosen).all():
            bad = rows[~torch.isfinite(chosen).cpu()].tolist()
            raise EngineError(f"non-finite logits or log-probs for rows {bad}: the model produced NaN/inf")
        return tokens, chosen

    def _uniforms(self, rows: torch.Tensor) -> torch.Tensor:
        """``# (C,)`` float64 in [0, 1): the next uniform of each row's own generator."""
        return torch.cat([torch.rand(1, generator=self.generators[r], dtype=torch.float64) for r in rows.tolist()])

    def _draw(self, probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draw from ``probs # (C, V)`` cut by top-k/top-p (SGLang's rule: keep a token while the
        mass before it is at most ``top_p``; the most likely token is always kept)."""
        if not self.sampling.truncates:
            return _invert_cdf(probs, uniforms)
        sorted_probs, order = probs.sort(dim=-1, descending=True)  # (C, V)
        keep = (sorted_probs.cumsum(dim=-1) - sorted_probs) <= self.sampling.top_p
        if self.sampling.top_k > 0:
            keep[:, self.sampling.top_k :] = False
        picked = _invert_cdf(sorted_probs * keep, uniforms)
        return order.gather(1, picked[:, None]).squeeze(1)


def _invert_cdf(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Index ``i`` with ``cdf[i-1] <= u * total < cdf[i]`` per row: zero-weight entries are never chosen."""
    cdf = weights.double().cumsum(dim=-1)  # (C, V)
    target = uniforms * cdf[:, -1]
    index = torch.searchsorted(cdf, target[:, None], right=True).squeeze(1)
    return index.clamp_(max=weights.shape[-1] - 1)
