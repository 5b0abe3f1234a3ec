"""``exporter.bucket_by_bytes``: order kept, buckets within the byte budget, an oversized tensor alone."""

import pytest
import torch

from megatron_mmupt.bridge.exporter import bucket_by_bytes, iter_hf_buckets


def tensors(*numels: int, dtype=torch.float32) -> list[tuple[str, torch.Tensor]]:
    return [(f"t{i}", torch.zeros(n, dtype=dtype)) for i, n in enumerate(numels)]


def names(buckets) -> list[list[str]]:
    return [[name for name, _ in bucket] for bucket in buckets]


def test_buckets_fill_up_to_the_budget_in_order():
    # float32: 4 bytes each; a 40-byte budget holds 10 elements
    buckets = list(bucket_by_bytes(tensors(4, 6, 1, 9, 10, 3), 40))
    assert names(buckets) == [["t0", "t1"], ["t2", "t3"], ["t4"], ["t5"]]
    assert all(sum(t.nbytes for _, t in b) <= 40 for b in buckets)


def test_a_tensor_larger_than_the_budget_gets_its_own_bucket():
    assert names(bucket_by_bytes(tensors(2, 100, 2), 40)) == [["t0"], ["t1"], ["t2"]]
    assert names(bucket_by_bytes(tensors(100), 40)) == [["t0"]]


@pytest.mark.parametrize(("budget", "expected"), [(1, 5), (10, 3), (12, 2), (10**9, 1)])
def test_budget_extremes(budget, expected):
    buckets = list(bucket_by_bytes(tensors(1, 2, 3, 2, 1, dtype=torch.bfloat16), budget))
    assert len(buckets) == expected and [n for b in names(buckets) for n in b] == [f"t{i}" for i in range(5)]


def test_empty_stream_gives_no_bucket_and_sizes_must_be_positive():
    assert list(bucket_by_bytes([], 10)) == []
    with pytest.raises(ValueError, match="bucket_bytes must be positive"):
        next(iter_hf_buckets(torch.nn.Linear(1, 1), None, None, spec="local", bucket_bytes=0))
