"""The run's checkpoints as the driver sees them: what goes into one, when, and how a run resumes from it.

A checkpoint holds the actor (model, optimizer, every rank's RNG: ``megatron_mmupt.checkpoint``) and the trainer
state: the step, the prompt pipeline's position and the collapse guard's moving averages. Rollout engines hold no state of their own: after a resume
the driver syncs the restored weights into them before the first rollout, and sampling seeds depend only on
the run seed, the batch and the prompt, so a resumed run draws what the uninterrupted run would have drawn.
"""

from __future__ import annotations

from pathlib import Path

from megatron_mmupt.actor.group import ActorGroup
from megatron_mmupt.checkpoint.config import hf_export_dir
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.data.pipeline import PromptPipeline
from megatron_mmupt.trainer.collapse_guard import CollapseGuard


class RunCheckpoints:
    def __init__(self, config: RunConfig, run_dir: Path) -> None:
        self.config = config.checkpoint
        self.directory = self.config.resolve_directory(run_dir)
        self.last_step = config.trainer.num_steps
        self.bucket_bytes = config.rollout.weight_bucket_bytes

    def restore(self, actor: ActorGroup, prompts: PromptPipeline, guard: CollapseGuard) -> int:
        """Load the latest checkpoint into the actor, the pipeline and the guard; returns its step."""
        if not self.directory.is_dir():
            raise ConfigError(f"--resume: no checkpoint directory {self.directory}")
        state = actor.load_checkpoint(str(self.directory))
        prompts.load_state_dict(state["data"])
        if "guard" in state:  # checkpoints written before the guard existed start it afresh
            guard.load_state_dict(state["guard"])
        return int(state["step"])

    def maybe_save(self, step: int, actor: ActorGroup, prompts: PromptPipeline, guard: CollapseGuard) -> str | None:
        exported = None
        if self.config.should_export_hf(step, last_step=self.last_step):
            exported = actor.export_hf(str(hf_export_dir(self.directory, step)), self.bucket_bytes)
        if self.config.should_save(step, last_step=self.last_step):
            state = {"step": step, "data": prompts.state_dict(), "guard": guard.state_dict()}
            actor.save_checkpoint(str(self.directory), step, state, self.config.keep_last)
        return exported
