"""The data stage: rows of a dataset -> a stream of ``PromptBatch``es, resumable, with worker processes.

Rows are taken in the sampler's order; each is mapped (``DatasetSource.example``) and encoded
(``PromptEncoder``) in ``num_workers`` processes (torch ``DataLoader``, order preserved, prefetching
ahead). The consumer here assembles batches of ``batch_size`` good prompts, skips bad rows (counted,
reported, and stopping the run past ``max_bad_fraction``), and advances the sampler only for the rows it
consumed, so ``state_dict()`` after any batch resumes exactly: the same batches, in the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Literal, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_choice, check_range
from megatron_mmupt.data.bad_rows import BadRowLog
from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.images import ImageConfig
from megatron_mmupt.data.processing import Processors, load_processors
from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.data.prompt_renderer import PromptConfig
from megatron_mmupt.data.sampler import EpochSampler, SamplerConfig
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.data.types import BadRow, Example


class RowSource(Protocol):
    """What the pipeline needs from a dataset: its length and one mapped row (``BadRow`` when unusable)."""

    def __len__(self) -> int: ...

    def example(self, index: int) -> Example: ...


class _EncodedRows(Dataset):
    """Row index -> ``Prompt`` or ``BadRow`` (returned, not raised: a bad row must not kill a worker)."""

    def __init__(self, source: RowSource, encoder: PromptEncoder) -> None:
        self.source, self.encoder = source, encoder

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Prompt | BadRow:
        try:
            return self.encoder.encode(self.source.example(index))
        except BadRow as bad:
            return bad


def _as_is(item: Any) -> Any:
    return item


class PromptPipeline(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        source: DatasetSource.Config = dataclasses.field(default_factory=DatasetSource.Config)
        """Where the rows come from and how their columns map."""
        processor: str = ""
        """Model folder with the tokenizer (chat template) and image processor; usually the model's path."""
        images: ImageConfig = dataclasses.field(default_factory=ImageConfig)
        prompt: PromptConfig = dataclasses.field(default_factory=PromptConfig)
        sampler: SamplerConfig = dataclasses.field(default_factory=SamplerConfig)
        num_epochs: int | None = None
        """Stop after this many epochs; ``None`` streams forever (training), 1 for an evaluation pass."""
        num_workers: int = 2
        """Processes decoding images and encoding prompts; 0 encodes in this process."""
        worker_start_method: Literal["fork", "forkserver", "spawn"] = "fork"
        """How data workers start; ``fork`` is fastest, ``forkserver`` avoids forking a threaded parent."""
        max_bad_fraction: float = 0.1
        """Stop when more than this fraction of the rows seen are unusable."""
        bad_row_report: str | None = None
        """Where to list the unusable rows (JSONL); ``None``: counts only."""

        def __post_init__(self) -> None:
            check_range("num_workers", self.num_workers, 0, 64)
            check_range("max_bad_fraction", self.max_bad_fraction, 0.0, 1.0)
            check_choice("worker_start_method", self.worker_start_method, ("fork", "forkserver", "spawn"))
            if self.num_epochs is not None:
                check_range("num_epochs", self.num_epochs, 1)

    def __init__(
        self, config: Config, *, processors: Processors | None = None, source: RowSource | None = None
    ) -> None:
        self.config = config
        if processors is None and not config.processor:
            raise ConfigError("data.processor is empty; set it to the model folder (tokenizer + image processor)")
        self.source: RowSource = source if source is not None else config.source.build()
        self.processors = processors if processors is not None else load_processors(config.processor)
        self.encoder = PromptEncoder(self.processors, config.prompt, config.images)
        self.sampler = EpochSampler(len(self.source), config.sampler)
        self.bad_rows = BadRowLog(config.max_bad_fraction, config.bad_row_report)
        self.batches_produced = 0
        self._stream: Iterator[Prompt | BadRow] | None = None
        self._epoch_good = 0

    def __iter__(self) -> Iterator[PromptBatch]:
        while (batch := self.next_batch()) is not None:
            yield batch

    def next_batch(self) -> PromptBatch | None:
        """The next batch, or ``None`` once ``num_epochs`` epochs are done."""
        prompts: list[Prompt] = []
        while len(prompts) < self.config.sampler.batch_size:
            if self._epoch_done():
                if self.config.sampler.drop_last or not prompts:
                    prompts = []
                    if not self._start_next_epoch():
                        return None
                    continue
                break  # the smaller last batch of the epoch
            item = next(self._rows())
            self.sampler.advance()
            if isinstance(item, BadRow):
                self.bad_rows.record_bad(item)
                self.bad_rows.check()
            else:
                self.bad_rows.record_good()
                self._epoch_good += 1
                prompts.append(item)
        self.bad_rows.write_report()
        batch = PromptBatch(tuple(prompts), epoch=self.sampler.epoch, step_index=self.batches_produced)
        self.batches_produced += 1
        return batch

    def _epoch_done(self) -> bool:
        return self.sampler.position >= self.sampler.num_rows

    def _start_next_epoch(self) -> bool:
        if self._epoch_good == 0 and self.sampler.position > 0:
            self.bad_rows.write_report()
            self.bad_rows.fail_empty_epoch(self.sampler.epoch)
        if self.config.num_epochs is not None and self.sampler.epoch + 1 >= self.config.num_epochs:
            return False
        self.sampler.next_epoch()
        self._stream, self._epoch_good = None, 0
        return True

    def _rows(self) -> Iterator[Prompt | BadRow]:
        if self._stream is None:
            self._stream = iter(self._loader(self.sampler.remaining()))
        return self._stream

    def _loader(self, indices: list[int]) -> DataLoader:
        workers = self.config.num_workers
        return DataLoader(
            _EncodedRows(self.source, self.encoder),
            batch_size=None,
            sampler=indices,
            num_workers=workers,
            collate_fn=_as_is,
            multiprocessing_context=self.config.worker_start_method if workers else None,
            prefetch_factor=4 if workers else None,
            # NOTE: without its own generator, every new loader iterator (each epoch, and after a resume) draws
            # its workers' base seed from torch's global RNG, so a resumed run's draws would differ from an
            # uninterrupted run's.
            generator=torch.Generator().manual_seed(self.config.sampler.seed),
        )

    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands after the last batch returned (sampler position, epoch, batches)."""
        return {
            "sampler": self.sampler.state_dict(),
            "batches_produced": self.batches_produced,
            "epoch_good": self._epoch_good,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.batches_produced = int(state["batches_produced"])
        self._epoch_good = int(state["epoch_good"])
        self._stream = None  # prefetched rows beyond the saved position are recomputed
