"""Tensor / pipeline / data parallel degrees of the actor; ``models.parallel_layout`` checks them against the model."""

from __future__ import annotations

import dataclasses

from megatron_mmupt.config.configurable import ConfigNode, check_range


@dataclasses.dataclass(kw_only=True, slots=True)
class ParallelConfig(ConfigNode):
    tensor_degree: int = 1
    """Tensor-parallel size: attention heads, MLP columns and the vocabulary are split over this many ranks."""
    pipeline_degree: int = 1
    """Pipeline-parallel size: consecutive layers live on this many stages."""
    make_vocab_size_divisible_by: int = 128
    """The embedding is padded to a multiple of this times ``tensor_degree`` (Megatron-LM's default, 128)."""

    def __post_init__(self) -> None:
        check_range("tensor_degree", self.tensor_degree, 1, 1024)
        check_range("pipeline_degree", self.pipeline_degree, 1, 1024)
        check_range("make_vocab_size_divisible_by", self.make_vocab_size_divisible_by, 1)

    def padded_vocab_size(self, vocab_size: int) -> int:
        """Megatron-LM's rule: round up to a multiple of ``make_vocab_size_divisible_by * tensor_degree``."""
        multiple = self.make_vocab_size_divisible_by * self.tensor_degree
        return -(-vocab_size // multiple) * multiple
