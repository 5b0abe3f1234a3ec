"""Aggregation modes against direct loops, and the micro-batch accumulation identity."""

import pytest
import torch

from megatron_mmupt.algorithm.aggregation import AGGREGATIONS
from megatron_mmupt.algorithm.types import LossNormalizer

MODES = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"]


def _data():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(5, 7, generator=g, dtype=torch.float64)
    mask = torch.rand(5, 7, generator=g) > 0.3
    mask[2] = False  # a fully masked sequence
    mask[4, :] = True
    return values, mask


def direct(mode: str, values, mask) -> float:
    rows = [[values[i, t].item() for t in range(values.shape[1]) if mask[i, t]] for i in range(values.shape[0])]
    rows = [r for r in rows if r]  # fully masked sequences neither contribute nor count
    num_tokens = sum(len(r) for r in rows)
    if mode == "token-mean":
        return sum(sum(r) for r in rows) / num_tokens
    if mode == "seq-mean-token-sum":
        return sum(sum(r) for r in rows) / len(rows)
    return sum(sum(r) / len(r) for r in rows) / len(rows)


@pytest.mark.parametrize("mode", MODES)
def test_mode_matches_direct_loop(mode):
    values, mask = _data()
    got = AGGREGATIONS.get(mode)(values, mask, LossNormalizer.from_mask(mask))
    assert got.item() == pytest.approx(direct(mode, values, mask), rel=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("split", [[1, 1, 1, 1, 1], [2, 3], [4, 1]])
def test_micro_batch_sum_equals_full_batch(mode, split):
    values, mask = _data()
    normalizer = LossNormalizer.from_mask(mask)
    full_in = values.clone().requires_grad_()
    full = AGGREGATIONS.get(mode)(full_in, mask, normalizer)
    full.backward()

    micro_in = values.clone().requires_grad_()
    total = torch.zeros((), dtype=torch.float64)
    for rows, m in zip(micro_in.split(split), mask.split(split), strict=True):
        part = AGGREGATIONS.get(mode)(rows, m, normalizer)
        part.backward()  # as gradient accumulation does: one backward per micro-batch
        total += part.detach()
    torch.testing.assert_close(total, full.detach())
    torch.testing.assert_close(micro_in.grad, full_in.grad)


def test_local_normalizer_breaks_the_identity():
    # Why the global normalizer is needed: averaging micro-batch token means differs from the full token mean.
    values, mask = _data()
    full = AGGREGATIONS.get("token-mean")(values, mask, LossNormalizer.from_mask(mask))
    parts = [
        AGGREGATIONS.get("token-mean")(v, m, LossNormalizer.from_mask(m))
        for v, m in zip(values.split([1, 4]), mask.split([1, 4]), strict=True)
    ]
    assert abs(sum(parts) / 2 - full) > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_nan_in_masked_positions_does_not_leak(mode):
    values, mask = _data()
    poisoned = values.masked_fill(~mask, float("nan")).requires_grad_()
    out = AGGREGATIONS.get(mode)(poisoned, mask, LossNormalizer.from_mask(mask))
    out.backward()
    assert out.item() == pytest.approx(direct(mode, values, mask), rel=1e-12)
    assert torch.isfinite(poisoned.grad).all()
    assert (poisoned.grad[~mask] == 0).all()


@pytest.mark.parametrize("mode", MODES)
def test_all_masked_batch_is_zero_not_nan(mode):
    values = torch.randn(3, 4)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    normalizer = LossNormalizer.from_mask(mask)
    assert normalizer == LossNormalizer(num_tokens=1.0, num_sequences=1.0)
    assert AGGREGATIONS.get(mode)(values, mask, normalizer).item() == 0.0


def test_normalizer_counts():
    mask = torch.tensor([[True, True, False], [False, False, False], [True, False, False]])
    assert LossNormalizer.from_mask(mask) == LossNormalizer(num_tokens=3.0, num_sequences=2.0)
