"""Tensor / pipeline / data parallel degrees of the actor, validated against the model they split."""

from __future__ import annotations

import dataclasses

from megatron_mmupt.config.configurable import ConfigError, ConfigNode, check_range


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

    def check_model(self, *, num_layers: int, num_attention_heads: int, num_key_value_heads: int) -> None:
        """Refuse layouts the model cannot be split into, naming the number that does not divide."""
        tp, pp = self.tensor_degree, self.pipeline_degree
        if num_attention_heads % tp:
            raise ConfigError(f"tensor_degree={tp} must divide the {num_attention_heads} attention heads")
        if num_key_value_heads % tp:
            raise ConfigError(
                f"tensor_degree={tp} must divide the {num_key_value_heads} key/value heads (query groups); "
                f"valid degrees: {', '.join(str(d) for d in range(1, num_key_value_heads + 1) if num_key_value_heads % d == 0)}"
            )
        if num_layers % pp:
            raise ConfigError(f"pipeline_degree={pp} must divide the {num_layers} layers")

    def padded_vocab_size(self, vocab_size: int) -> int:
        """Megatron-LM's rule: round up to a multiple of ``make_vocab_size_divisible_by * tensor_degree``."""
        multiple = self.make_vocab_size_divisible_by * self.tensor_degree
        return -(-vocab_size // multiple) * multiple
