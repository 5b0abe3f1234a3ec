"""Loss aggregation modes: per-token values ``# (N, T)`` -> scalar, normalized by *global* batch counts.

Every mode is a sum of per-sequence terms divided by a denominator from :class:`LossNormalizer`, counted once
over the whole global batch. Hence, for any split of the batch into micro-batches (by rows),
``sum_k aggregate(values_k, mask_k, normalizer) == aggregate(values, mask, normalizer)`` (values and
gradients): gradient accumulation needs no rescaling, and short and long micro-batches are weighted correctly.
The usual "divide by the micro-batch's own token count, then average micro-batches" is *not* the full-batch
token mean whenever micro-batches hold different numbers of tokens.

With N_tok = ``normalizer.num_tokens`` and N_seq = ``normalizer.num_sequences`` (sequences with >= 1 token):

* ``token-mean``           ``sum_{i,t} m_it l_it / N_tok``  every token weighs the same (DAPO, Yu et al. 2025,
                           §3.3; the MM-UPT/EasyR1 default "token");
* ``seq-mean-token-sum``   ``sum_i (sum_t m_it l_it) / N_seq``  sum over a sequence's tokens (Dr. GRPO, Liu et al.
                           2025, which removes GRPO's per-response length normalization; they further divide by a
                           constant, which is a learning-rate scale);
* ``seq-mean-token-mean``  ``sum_i (sum_t m_it l_it / T_i) / N_seq``, ``T_i = sum_t m_it``: the original GRPO
                           objective (Shao et al. 2024, eq. 3), and GSPO's sequence mean.

Masked positions are selected away with ``where`` (not multiplied by 0), so NaN/inf in padding cannot leak into
the value. A fully masked sequence contributes exactly 0 and is not counted in N_seq.
"""

from __future__ import annotations

from typing import Protocol

import torch

from megatron_mmupt.algorithm.types import LossNormalizer
from megatron_mmupt.utils.registry import Registry


class Aggregation(Protocol):
    def __call__(self, values: torch.Tensor, mask: torch.Tensor, normalizer: LossNormalizer) -> torch.Tensor:
        """values ``# (N, T)`` float, mask ``# (N, T)`` bool -> scalar ``# ()``."""
        ...


AGGREGATIONS: Registry[Aggregation] = Registry("loss aggregation", signature=Aggregation.__call__)
register_aggregation = AGGREGATIONS.register


def _masked_row_sums(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum(dim=-1)  # (N,)


@register_aggregation("token-mean")
def token_mean(values: torch.Tensor, mask: torch.Tensor, normalizer: LossNormalizer) -> torch.Tensor:
    """``sum_{i,t} m_it v_it / N_tok`` (DAPO token-level loss, Yu et al. 2025). ``# (N, T)`` -> ``# ()``."""
    return _masked_row_sums(values, mask).sum() / normalizer.num_tokens


@register_aggregation("seq-mean-token-sum")
def seq_mean_token_sum(values: torch.Tensor, mask: torch.Tensor, normalizer: LossNormalizer) -> torch.Tensor:
    """``sum_i (sum_t m_it v_it) / N_seq`` (Dr. GRPO, Liu et al. 2025). ``# (N, T)`` -> ``# ()``."""
    return _masked_row_sums(values, mask).sum() / normalizer.num_sequences


@register_aggregation("seq-mean-token-mean")
def seq_mean_token_mean(values: torch.Tensor, mask: torch.Tensor, normalizer: LossNormalizer) -> torch.Tensor:
    """``sum_i (sum_t m_it v_it / T_i) / N_seq`` (GRPO, Shao et al. 2024, eq. 3). ``# (N, T)`` -> ``# ()``."""
    num_tokens = mask.sum(dim=-1).clamp(min=1)  # (N,); a fully masked row has sum 0, so clamping is exact
    return (_masked_row_sums(values, mask) / num_tokens).sum() / normalizer.num_sequences
