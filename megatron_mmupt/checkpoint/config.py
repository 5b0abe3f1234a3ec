"""When to save, how many checkpoints to keep, where: the run's ``checkpoint`` section and its decisions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from megatron_mmupt.checkpoint.layout import step_name
from megatron_mmupt.config.configurable import ConfigNode, check_range

HF_EXPORTS_DIR = "hf"
"""Sub-folder of the checkpoint directory holding the Hugging Face exports (never pruned)."""


@dataclasses.dataclass(kw_only=True, slots=True)
class CheckpointConfig(ConfigNode):
    save_every: int = 0
    """Save every this many steps; 0 saves only after the last step (the end of the run always saves)."""
    keep_last: int = 2
    """Keep the newest K complete checkpoints; older ones are deleted after each save (``latest`` never is)."""
    directory: str = ""
    """Where checkpoints go; empty: ``<run output_dir>/checkpoints``."""
    hf_export_every: int = 0
    """Also export the policy as a Hugging Face folder every this many steps and after the last; 0: never."""

    def __post_init__(self) -> None:
        check_range("save_every", self.save_every, 0)
        check_range("keep_last", self.keep_last, 1)
        check_range("hf_export_every", self.hf_export_every, 0)

    def resolve_directory(self, output_dir: str | Path) -> Path:
        """The checkpoint directory of a run whose output directory is ``output_dir``."""
        return Path(self.directory) if self.directory else Path(output_dir) / "checkpoints"

    def should_save(self, step: int, *, last_step: int) -> bool:
        """Whether to save after ``step`` (1-based) of a run that ends after ``last_step``."""
        return step == last_step or (self.save_every > 0 and step % self.save_every == 0)

    def should_export_hf(self, step: int, *, last_step: int) -> bool:
        """Whether to export the policy as an HF folder after ``step``; never when ``hf_export_every`` is 0."""
        return self.hf_export_every > 0 and (step == last_step or step % self.hf_export_every == 0)


def hf_export_dir(directory: str | Path, step: int) -> Path:
    """``<directory>/hf/step_00000N``: the HF export of ``step`` (beside, not inside, the pruned checkpoints)."""
    return Path(directory) / HF_EXPORTS_DIR / step_name(step)
