"""Detection of NaN/inf in the loss inputs: reported, never propagated silently.

Policy (``AlgorithmConfig.on_nonfinite``):
* ``"raise"`` (default): a non-finite value where it would be used raises :class:`FloatingPointError` naming the
  tensor and the count. This costs one host sync per checked tensor, which is negligible next to a train step.
* ``"drop"``: the affected tokens (or samples, for rewards) are removed from the loss, their values replaced by
  zeros so that neither the forward nor the backward pass can produce NaN, and the count is reported as the
  metric ``nonfinite/<name>``. Dropped tokens still count in the global :class:`LossNormalizer` (it is computed
  before the log-probs exist), which slightly down-weights the step rather than re-weighting the others.

Values outside the mask (padding) are never reported: they are not used. They are still zeroed, because
``where``-masking a NaN in the forward pass leaves ``0 * NaN`` in the backward pass of whatever produced it.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

NonFinitePolicy = Literal["raise", "drop"]
NONFINITE_POLICIES: tuple[str, ...] = get_args(NonFinitePolicy)


def guard_finite(
    name: str, values: torch.Tensor, valid: torch.Tensor, policy: NonFinitePolicy
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check ``values`` where ``valid``; return ``(clean_values, valid_and_finite, num_nonfinite)``.

    Args:
        name: how the tensor is called in error messages and metrics.
        values: any float tensor, e.g. log-probs ``# (N, T)`` or rewards ``# (N,)``.
        valid: bool tensor of the same shape; positions that are used.
        policy: ``"raise"`` or ``"drop"`` (see the module docstring).

    Returns:
        clean_values: ``values`` with every position outside ``valid_and_finite`` set to 0 (same shape).
        valid_and_finite: bool, same shape.
        num_nonfinite: 0-d long tensor, non-finite values inside ``valid``.
    """
    finite = torch.isfinite(values)
    bad = valid & ~finite
    num_bad = bad.sum()
    if policy == "raise":
        if bool(num_bad):
            raise FloatingPointError(
                f"{int(num_bad)} non-finite value(s) (NaN/inf) in {name} at used positions; "
                "set algorithm.on_nonfinite=drop to mask them out and count them instead"
            )
    elif policy != "drop":
        raise ValueError(f"on_nonfinite={policy!r} is not valid; choose one of: {', '.join(NONFINITE_POLICIES)}")
    keep = valid & finite
    return torch.where(keep, values, torch.zeros((), dtype=values.dtype, device=values.device)), keep, num_bad
