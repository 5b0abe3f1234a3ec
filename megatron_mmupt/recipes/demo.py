"""The embedded default: runs on one CPU machine with no downloads."""

from __future__ import annotations

from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.data.sampler import SamplerConfig
from megatron_mmupt.data.source import DatasetSource

DEMO_DATA = "runs/demo-data"
"""Where ``megatron-mmupt demo-data --out runs/demo-data`` writes the demo task and its processor."""


def demo() -> RunConfig:
    """The demo task (rendered visual math, ``megatron-mmupt demo-data``) with the MM-UPT vote reward."""
    return RunConfig(
        name="demo",
        output_dir="runs/demo",
        data=PromptPipeline.Config(
            source=DatasetSource.Config(path=f"{DEMO_DATA}/train.parquet", preset="generic"),
            processor=f"{DEMO_DATA}/processor",
            sampler=SamplerConfig(batch_size=32, seed=1),
            num_workers=0,  # 112 px images: handing a prompt to another process costs as much as encoding it
        ),
    )
