"""The run directory: created (or re-entered on resume) with the resolved config, never silently reused."""

from __future__ import annotations

from pathlib import Path

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.config.serialization import write_config

RUN_MARKERS = ("metrics.jsonl", "checkpoints")
"""Files a started run leaves: a new run in their folder would mix its outputs with the old ones."""


def prepare_run_dir(config: RunConfig, *, resume: bool) -> Path:
    run_dir = Path(config.output_dir)
    started = [m for m in RUN_MARKERS if (run_dir / m).exists()]
    if started and not resume:
        raise ConfigError(
            f"output_dir={str(run_dir)!r} holds a previous run ({', '.join(started)}); pass --resume to continue "
            "it, or choose another output_dir"
        )
    if resume and not started:
        raise ConfigError(f"--resume: output_dir={str(run_dir)!r} holds no run to resume (no checkpoints)")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(config, run_dir)  # on resume: the config the run continues with (e.g. more steps)
    return run_dir
