"""The typed objects the algorithm stage exchanges with its neighbours.

Shape letters used throughout ``megatron_mmupt.algorithm``:
``N`` samples (responses) in a batch, ``T`` response tokens per sample (right-padded), ``V`` vocabulary size
(``V / tp`` on a tensor-parallel rank), ``G`` prompt groups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import NamedTuple

import torch


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrainBatch:
    """What the actor trains on: one row per sampled response, rows of a prompt linked by ``group_ids``.

    Built by :func:`megatron_mmupt.algorithm.batch.make_train_batch` from rollout rewards; the actor adds
    ``old_logprobs`` / ``ref_logprobs`` (``dataclasses.replace``) once it has recomputed them, and pairs every
    row with its model inputs through ``sample_ids`` (rows may have been dropped by filters).

    Fields (shapes)::

        sample_ids        (N,)   long   row of each sample in the rollout batch it came from
        group_ids         (N,)   long   prompt group of each sample; arbitrary ids, rows need not be contiguous
        rewards           (N,)   float  scalar reward per sample (the majority-vote reward in MM-UPT)
        advantages        (N,)   float  one advantage per sample, broadcast over its tokens by the losses
        response_mask     (N, T) bool   True on response tokens that enter the loss
        truncated         (N,)   bool   the response hit the length limit without an end-of-sequence token
        old_logprobs      (N, T) float | None  log-probs of the policy that sampled, recomputed by the trainer;
                                        None means "on-policy single update": the losses use the detached
                                        current log-probs, so the ratio is 1 and its gradient is the policy gradient
        ref_logprobs      (N, T) float | None  log-probs of the frozen reference policy (needed when KL coef > 0)
        rollout_logprobs  (N, T) float | None  log-probs reported by the rollout engine: the behaviour policy
                                        (needed by ``algorithm.off_policy.weighting``); ``old_logprobs`` are
                                        then the proximal policy (AReaL's decoupled PPO, see :mod:`.importance`)
        version_lag       (N,)   long | None  how many weight versions the policy that sampled each row trails
                                        the policy being trained (0: on-policy). ``None`` means 0 for every row,
                                        today's synchronous loop; an asynchronous loop fills it. Only metrics
                                        read it (``mismatch/lag<k>/*``).
    """

    sample_ids: torch.Tensor
    group_ids: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    response_mask: torch.Tensor
    truncated: torch.Tensor
    old_logprobs: torch.Tensor | None = None
    ref_logprobs: torch.Tensor | None = None
    rollout_logprobs: torch.Tensor | None = None
    version_lag: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.response_mask.dim() != 2 or self.response_mask.dtype != torch.bool:
            raise ValueError(
                f"response_mask must be a (N, T) bool tensor, got {tuple(self.response_mask.shape)} "
                f"{self.response_mask.dtype}"
            )
        n = self.response_mask.shape[0]
        for name in ("sample_ids", "group_ids"):
            _check(name, getattr(self, name), (n,), integer=True)
        for name in ("rewards", "advantages"):
            _check(name, getattr(self, name), (n,), floating=True)
        _check("truncated", self.truncated, (n,), boolean=True)
        if self.version_lag is not None:
            _check("version_lag", self.version_lag, (n,), integer=True)
        for name in ("old_logprobs", "ref_logprobs", "rollout_logprobs"):
            value = getattr(self, name)
            if value is not None:
                _check(name, value, tuple(self.response_mask.shape), floating=True)

    @property
    def num_samples(self) -> int:
        return self.response_mask.shape[0]

    def select(self, index: torch.Tensor | slice) -> TrainBatch:
        """The rows picked by ``index`` ((N,) bool mask, (K,) long indices or a slice), every field alike."""
        rows = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            rows[field.name] = None if value is None else value[index]
        return dataclasses.replace(self, **rows)

    def split(self, micro_batch_size: int) -> Iterator[TrainBatch]:
        """Consecutive micro-batches of at most ``micro_batch_size`` rows (the last one may be smaller)."""
        if micro_batch_size <= 0:
            raise ValueError(f"micro_batch_size must be > 0, got {micro_batch_size}")
        for start in range(0, self.num_samples, micro_batch_size):
            yield self.select(slice(start, start + micro_batch_size))  # views, no copy


class LossNormalizer(NamedTuple):
    """Denominators of the loss aggregation, counted over the *whole* global batch.

    Passing the global counts to every micro-batch makes the per-micro-batch losses add up to the full-batch
    loss, so gradient accumulation needs no rescaling (DAPO's token-level loss, Yu et al. 2025, depends on it).

        num_tokens     number of response tokens with mask True in the global batch
        num_sequences  number of sequences with at least one such token
    """

    num_tokens: float
    num_sequences: float

    @classmethod
    def from_mask(
        cls, response_mask: torch.Tensor, group: torch.distributed.ProcessGroup | None = None
    ) -> LossNormalizer:
        """Counts from a (N, T) bool mask; summed over ``group`` (e.g. data-parallel ranks) when given.

        NOTE: with a data-parallel group, each rank's loss is its share of the global loss; a gradient reducer
        that *averages* over data-parallel ranks must then be compensated by multiplying the loss by the DP size.
        """
        counts = torch.stack([response_mask.sum(), response_mask.any(dim=-1).sum()]).to(torch.float64)
        if group is not None:
            torch.distributed.all_reduce(counts, group=group)
        num_tokens, num_sequences = counts.tolist()
        # An empty batch yields a zero loss instead of 0/0.
        return cls(num_tokens=max(num_tokens, 1.0), num_sequences=max(num_sequences, 1.0))


def _check(
    name: str,
    value: torch.Tensor,
    shape: tuple[int, ...],
    *,
    integer: bool = False,
    floating: bool = False,
    boolean: bool = False,
) -> None:
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{name} must have shape {shape}, got {got}")
    kind_ok = (
        (integer and not value.dtype.is_floating_point and value.dtype != torch.bool)
        or (floating and value.dtype.is_floating_point)
        or (boolean and value.dtype == torch.bool)
    )
    if not kind_ok:
        kind = "an integer" if integer else "a floating-point" if floating else "a bool"
        raise ValueError(f"{name} must be {kind} tensor, got {value.dtype}")
