"""The embedded default: runs on one CPU machine with no downloads."""

from __future__ import annotations

from megatron_mmupt.config.run_config import RunConfig


def demo() -> RunConfig:
    """Score the shipped sample of responses with the MM-UPT vote reward (defaults everywhere else)."""
    return RunConfig(name="demo", output_dir="runs/demo")
