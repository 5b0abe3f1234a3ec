"""The MM-UPT training loop: prompts -> rollout -> vote reward -> advantages -> actor update -> weight sync.

    megatron-mmupt train --recipe demo trainer.num_steps=40            # or: python -m megatron_mmupt.train
    megatron-mmupt train --recipe demo --resume                        # continue from the last checkpoint

Ray is the single controller: this process holds the data, the reward stage and the loop; the actor's ranks
(Megatron-Core, TP x PP x DP) and the rollout engines are Ray actors placed on the run's GPUs
(``trainer/launch.py``). Who holds a GPU when (colocated runs: ``trainer/gpu_sharing.py``) and how weights
reach the engines (from the actor's ranks: ``bridge/sync.py``) live in those components. Labels never reach the reward (unless ``reward.mode=supervised``): they are read by
the held-out evaluation and the reward's diagnostics only.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import TYPE_CHECKING

import torch

from megatron_mmupt.actor.experience import collect_experience
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.evaluation.heldout import HeldOutEval
from megatron_mmupt.observability.throughput import throughput_metrics
from megatron_mmupt.observability.timer import StageTimer
from megatron_mmupt.parallel.cluster import ray_session
from megatron_mmupt.trainer import step as rl
from megatron_mmupt.trainer.checkpoints import RunCheckpoints
from megatron_mmupt.trainer.checks import check_run_inputs
from megatron_mmupt.trainer.launch import launch
from megatron_mmupt.trainer.rollout_ahead import RolloutAhead, StepRollout, refresh_stale_groups, version_lags
from megatron_mmupt.trainer.rollout_metrics import rollout_metrics
from megatron_mmupt.trainer.run_dir import prepare_run_dir

if TYPE_CHECKING:
    from megatron_mmupt.data.pipeline import PromptPipeline
    from megatron_mmupt.data.prompt_batch import PromptBatch
    from megatron_mmupt.rollout.engine import RolloutEngine
    from megatron_mmupt.rollout.types import RolloutGroup


def train(config: RunConfig, *, resume: bool = False) -> dict[str, float]:
    """Run ``config`` to ``trainer.num_steps``; returns the last step's metrics (held-out ones included)."""
    config.validate()
    check_run_inputs(config)  # bad configs fail here, before Ray, models or data are touched
    run_dir = prepare_run_dir(config, resume=resume)
    cpus = config.trainer.world_size * config.cluster.cpus_per_worker
    with ray_session(config.cluster, num_cpus=cpus + config.rollout.num_engines * config.rollout.cpus_per_engine), \
            contextlib.ExitStack() as cleanup:  # fmt: skip
        prompts, reward = config.data.build(), config.reward.build()
        guard = config.guard.build()  # label-free collapse signals; lowers the learning signal when they alarm
        cleanup.callback(reward.close)
        run = launch(config, run_dir, cleanup)  # placement on the GPUs, actor ranks, engines, weight sync
        actor, rollout, gpus = run.actor, run.rollout, run.gpus
        heldout = HeldOutEval(config.eval, data=config.data, rollout_sampling=config.rollout.sampling)
        cleanup.callback(heldout.close)
        checkpoints = RunCheckpoints(config, run_dir)
        start = 0
        if resume:
            gpus.to_training()  # colocated: the checkpoint loads into the actor's GPU memory
            start = checkpoints.restore(actor, prompts, guard)
        logger = config.logging.build(
            run_dir=run_dir, total_steps=config.trainer.num_steps, resume_step=start, run_config=config.to_dict()
        )
        cleanup.enter_context(logger)  # a failing run is marked failed (wandb)
        if start:
            gpus.sync(version=start)  # the engines start from the base model
        else:
            gpus.start()
            if heldout.enabled and config.eval.before:
                logger.log(0, heldout.run(rollout))
        ahead = _rollout_ahead(config, prompts, rollout, start=start, colocated=gpus.colocated)
        if ahead is not None:
            cleanup.enter_context(ahead)
            ahead.release(start)  # the engines hold version `start`: the first steps may be generated
        last: dict[str, float] = {}
        timer = StageTimer()
        for step in range(start + 1, config.trainer.num_steps + 1):
            if ahead is None:
                with timer.stage("data"):
                    batch = prompts.next_batch()
                if batch is None:  # data.num_epochs exhausted
                    break
                with timer.stage("rollout"):
                    groups = rollout.generate(batch, config.rollout.sampling)
                    gpus.to_training()  # colocated: the engines' GPU memory goes to the actor until the sync
                version_lag, staleness = None, {}
            else:
                with timer.stage("rollout"):  # waiting for the generating thread: 0 while it keeps ahead
                    item = ahead.get(step)
                if item is None:  # data.num_epochs exhausted
                    break
                batch, groups, version_lag, staleness = _stale_step(item, rollout, config, actor_version=step - 1)
            with timer.stage("reward"):
                rewards = reward.score_groups(groups)
                experience = collect_experience(batch, groups, rewards, pad_token_id=prompts.processors.pad_token_id)
            with timer.stage("logprobs"):
                train_batch, batch_metrics = rl.prepare(actor, experience, config, version_lag=version_lag)
                train_batch, guard_metrics = guard.step(step, train_batch, rewards, groups)
            with timer.stage("update"):
                actor_metrics = rl.update(actor, experience, train_batch, config)
            with timer.stage("checkpoint"):
                checkpoints.maybe_save(step, actor, prompts, guard)
            with timer.stage("sync"):
                if ahead is not None:
                    ahead.before_sync(step)  # no generation runs on older weights once this returns
                sync_metrics = gpus.sync(version=step)  # from the actor's ranks into every engine
            last = rewards.metrics() | batch_metrics | guard_metrics | actor_metrics | rollout_metrics(groups)
            last |= sync_metrics | staleness
            if heldout.due(step, config.trainer.num_steps):
                with timer.stage("eval"):
                    last |= heldout.run(rollout)
            if ahead is not None:
                ahead.release(step)
            times = timer.pop()
            last |= times | throughput_metrics(
                num_tokens=experience.num_tokens, step_seconds=times["time/step"],
                num_response_tokens=experience.num_response_tokens, rollout_seconds=times["time/rollout"],
            )  # fmt: skip
            logger.log(step, last)
            if guard.stopped:  # guard.action=stop or guard.stop_after: the warning above says why
                break
        return last


def _rollout_ahead(
    config: RunConfig, prompts: PromptPipeline, rollout: RolloutEngine, *, start: int, colocated: bool
) -> RolloutAhead | None:
    """The generating thread of ``trainer.max_staleness >= 1``; ``None``: the synchronous loop."""
    staleness = config.trainer.max_staleness
    if not staleness:
        return None
    if colocated:
        warnings.warn(
            f"trainer.max_staleness={staleness} is not used: in a colocated run the engines and the actor take turns "
            "on the same GPUs, so the loop stays synchronous (cluster.colocate=false overlaps them)",
            stacklevel=2,
        )
        return None
    last = config.trainer.num_steps
    return RolloutAhead(
        prompts, rollout, config.rollout.sampling, max_staleness=staleness, start=start,
        barriers=lambda step: config.checkpoint.should_save(step, last_step=last),
    )  # fmt: skip


def _stale_step(
    item: StepRollout, rollout: RolloutEngine, config: RunConfig, *, actor_version: int
) -> tuple[PromptBatch, list[RolloutGroup], torch.Tensor, dict[str, float]]:
    """A step generated ahead: its prompts, its groups (any older than the bound regenerated), each sample's
    version lag ``# (N,)`` and the staleness metrics."""
    groups, metrics = refresh_stale_groups(
        item, rollout, config.rollout.sampling, actor_version=actor_version, max_staleness=config.trainer.max_staleness
    )
    lags = version_lags(groups, actor_version=actor_version, fallback=item.version)
    return item.batch, groups, torch.tensor(lags, dtype=torch.long), metrics


def main(argv: list[str] | None = None) -> int:
    from megatron_mmupt.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
