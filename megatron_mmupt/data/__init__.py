"""The data stage: dataset rows -> ``PromptBatch`` (loading, presets, images, prompts, 3-D rope ids, sampling).

See ``docs/data.md``. Entry point: ``PromptPipeline.Config(...).build()``, iterated for ``PromptBatch``es.
"""

from megatron_mmupt.data.encoder import PromptEncoder
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.processing import Processors, load_processors
from megatron_mmupt.data.prompt_batch import Prompt, PromptBatch
from megatron_mmupt.data.source import DatasetSource
from megatron_mmupt.data.types import BadRow, BadRowReason, Example

__all__ = [
    "BadRow",
    "BadRowReason",
    "DatasetSource",
    "Example",
    "Processors",
    "Prompt",
    "PromptBatch",
    "PromptEncoder",
    "PromptPipeline",
    "load_processors",
]
