"""The exported buckets as a sending rank passes them on: checked, counted and fingerprinted on the way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from megatron_mmupt.bridge.transports.plan import SyncPlan
from megatron_mmupt.rollout.engine import WeightBucket
from megatron_mmupt.rollout.weights import check_bucket

Spec = dict[str, tuple[int, ...]]


class BucketStream:
    """Iterate ``buckets``; each is checked against ``spec`` (names and shapes of the served checkpoint) before
    it is handed on, so a wrong bucket fails before it reaches an engine."""

    def __init__(
        self, buckets: Iterable[WeightBucket], plan: SyncPlan, spec: Spec | None, *, fingerprint: bool = False
    ) -> None:
        self.buckets, self.plan, self.spec = buckets, plan, spec
        self.values = plan.fingerprint_values if fingerprint else 0
        self.num_bytes = self.num_buckets = self.num_tensors = 0
        self.fingerprints: dict[str, list[float]] = {}

    def __iter__(self) -> Iterator[WeightBucket]:
        for index, bucket in enumerate(self.buckets):
            if self.spec is not None:
                check_bucket(bucket, self.spec, index)
            self.num_buckets += 1
            self.num_tensors += len(bucket)
            self.num_bytes += sum(t.numel() * t.element_size() for _, t in bucket)
            if self.values:
                for name, tensor in bucket:
                    head = tensor.detach().flatten()[: self.values]
                    self.fingerprints[name] = head.float().cpu().tolist()  # exact: float32 holds bf16/fp16
            yield bucket


def exhaust(buckets: Iterable[WeightBucket]) -> None:
    """A rank that sends nothing still takes part in the export's collectives."""
    for _ in buckets:
        pass
