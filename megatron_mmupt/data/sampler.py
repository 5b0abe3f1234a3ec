"""A deterministic, resumable order over the rows of a dataset, epoch after epoch.

Epoch ``e`` visits the rows in ``permutation(seed + e)`` (or in file order without shuffling). The
state is ``(epoch, position)``: how many indices of the current epoch were consumed. Saving it after a
batch and restoring it reproduces the exact same future stream, whatever number of data workers
prefetched ahead, because only the consumer advances the position.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from megatron_mmupt.config.configurable import ConfigNode, check_positive


@dataclasses.dataclass(kw_only=True, slots=True)
class SamplerConfig(ConfigNode):
    batch_size: int = 512
    """Prompts per batch (reference: 512 prompts per RL step)."""
    shuffle: bool = True
    """Visit rows in a new random order every epoch."""
    seed: int = 1
    """Seed of the shuffles (epoch e uses seed + e)."""
    drop_last: bool = True
    """Drop the incomplete last batch of an epoch instead of yielding a smaller one."""

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)


class EpochSampler:
    """Index order of ``num_rows`` rows; see the module docstring."""

    def __init__(self, num_rows: int, config: SamplerConfig) -> None:
        if num_rows <= 0:
            raise ValueError(f"the dataset has {num_rows} rows; nothing to sample")
        self.num_rows, self.config = num_rows, config
        self.epoch, self.position = 0, 0

    def epoch_order(self, epoch: int) -> list[int]:
        """The row indices of ``epoch``, in visiting order."""
        if not self.config.shuffle:
            return list(range(self.num_rows))
        generator = torch.Generator().manual_seed(self.config.seed + epoch)
        return torch.randperm(self.num_rows, generator=generator).tolist()

    def remaining(self) -> list[int]:
        """Indices of the current epoch not consumed yet."""
        return self.epoch_order(self.epoch)[self.position :]

    def advance(self, count: int = 1) -> None:
        """Mark ``count`` more indices of the current epoch as consumed."""
        if self.position + count > self.num_rows:
            raise ValueError(f"cannot consume {count} more of {self.num_rows - self.position} remaining indices")
        self.position += count

    def next_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "num_rows": self.num_rows, "seed": self.config.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_rows"] != self.num_rows:
            raise ValueError(
                f"the sampler state is for a dataset of {state['num_rows']} rows, this one has {self.num_rows}; "
                "resume with the same dataset"
            )
        if state["seed"] != self.config.seed:
            raise ValueError(f"the sampler state used seed {state['seed']}, the config says {self.config.seed}")
        if not 0 <= state["position"] <= self.num_rows:
            raise ValueError(f"sampler position {state['position']} is outside [0, {self.num_rows}]")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
