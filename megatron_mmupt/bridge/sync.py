"""The driver's side of a weight sync: it picks the engines and the transport, the actor's ranks move the weights.

    weights = WeightSync(config.rollout.weight_sync, actor=actor, rollout=balancer, placement=placement,
                         rollout_config=config.rollout, actor_model=config.actor.model, run_dir=run_dir)
    metrics = weights.sync(version=step)      # sync/bytes, perf/sync_gb_per_s, ... (+ sync/check_* in check mode)

Per sync: the balancer names its live engines (restarted ones too) and how each is reached; every actor rank
gets the same ``SyncPlan`` and sends its part (``bridge/transports``); the balancer learns the new version. The
driver holds no weights. Versions are the trainer's step, so an engine reports which step's weights it serves.

Check mode (``check_every``): rank 0 returns the leading values of every tensor it sent; the driver samples
``check_tensors`` of them (a different sample each version) and asks every engine for its copy
(``get_weights_by_name``, SGLang's endpoint), cast to the dtype the engine serves; any difference fails the run
naming the engine and tensor. SGLang implements ``get_weights_by_name`` for some model families only (not
Qwen2.5-VL in 0.5.23); the local engine and ``megatron-mmupt serve`` do.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from megatron_mmupt.actor.group import ActorGroup
from megatron_mmupt.bridge.sync_config import WeightSyncConfig, resolve_transport
from megatron_mmupt.bridge.transports import SyncPlan, SyncReport
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.run_placement import RunPlacement
from megatron_mmupt.rollout.balancer import EngineBalancer
from megatron_mmupt.rollout.config import RolloutConfig


class WeightSyncError(RuntimeError):
    """An engine's weights differ from the actor's after a sync (check mode)."""


def tensor_feeders(placement: RunPlacement, *, num_engines: int, tp_size: int, world_size: int):
    """Per engine, the actor ranks that send it handles: those on its GPUs (colocated), or on one host without
    GPUs the ranks ``e*tp .. e*tp + tp - 1`` (shared memory)."""
    if placement.colocated:
        return tuple(placement.feeders(e) for e in range(num_engines))
    if placement.engines_on_gpu:
        raise ConfigError("rollout.weight_sync.transport=tensor needs the engines on the actor's GPUs "
                          "(cluster.colocate=true); disaggregated engines take distributed or disk")  # fmt: skip
    if num_engines * tp_size > world_size:
        raise ConfigError(f"rollout.weight_sync.transport=tensor: {num_engines} engines x tp {tp_size} need as many "
                          f"actor ranks, trainer.world_size={world_size}")  # fmt: skip
    return tuple(tuple(range(e * tp_size, (e + 1) * tp_size)) for e in range(num_engines))


class WeightSync:
    def __init__(
        self,
        config: WeightSyncConfig,
        *,
        actor: ActorGroup,
        rollout: EngineBalancer,
        placement: RunPlacement,
        rollout_config: RolloutConfig,
        actor_model: str,
        world_size: int,
        bucket_bytes: int,
        run_dir: Path,
    ) -> None:
        self.config, self.actor, self.rollout = config, actor, rollout
        self.transport = resolve_transport(config, rollout_config, colocated=placement.colocated)
        self.checkpoint = rollout_config.served_model or actor_model
        self.engine_dtype = served_dtype(rollout_config, self.checkpoint)
        feeders = ()
        if self.transport == "tensor":
            feeders = tensor_feeders(placement, num_engines=rollout_config.num_engines,
                                     tp_size=rollout_config.gpus_per_engine, world_size=world_size)  # fmt: skip
        backend = config.backend if config.backend != "auto" else ("nccl" if placement.pool is not None else "gloo")
        self._plan_fields = {
            "transport": self.transport, "bucket_bytes": bucket_bytes, "checkpoint": self.checkpoint,
            "feeders": feeders, "disk_dir": config.disk_dir or str(run_dir / "weight_sync"), "backend": backend,
            "group_name": config.group_name,
        }  # fmt: skip
        self.num_syncs = 0

    def sync(self, *, version: int) -> dict[str, float]:
        """Every live engine gets the actor's current weights as ``version``; returns the sync's metrics."""
        indices, targets = zip(*self.rollout.weight_targets(), strict=True)
        checking = self.config.check_every > 0 and self.num_syncs % self.config.check_every == 0
        plan = SyncPlan(targets=tuple(targets), version=version, **self._plan_fields,
                        fingerprint_values=self.config.check_values if checking else 0)  # fmt: skip
        report: SyncReport = self.actor.push_weights(plan)
        self.rollout.weights_synced(indices, version=version)
        self.num_syncs += 1
        metrics = report.metrics()
        if checking:
            metrics |= self.check(report, indices, version=version)
        return metrics

    def check(self, report: SyncReport, indices: tuple[int, ...], *, version: int) -> dict[str, float]:
        """Compare a sample of each engine's weights with what the actor sent; ``WeightSyncError`` on a difference."""
        names = sorted(report.fingerprints)
        sample = random.Random(version).sample(names, min(self.config.check_tensors, len(names)))
        problems, largest = [], 0.0
        for index in indices:
            engine = self.rollout.engines[index]
            for name in sample:
                expected = _as_served(report.fingerprints[name], self.engine_dtype)
                got = torch.tensor(engine.get_weights_by_name(name, self.config.check_values))
                if got.shape != expected.shape or not torch.equal(got, expected):
                    diff = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
                    largest = max(largest, diff)
                    problems.append(f"engine {index}: {name} (max |diff| {diff:.3g} over {expected.numel()} values)")
        if problems:
            more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
            raise WeightSyncError(f"after the sync of version {version}, engine weights differ from the actor's "
                                  f"(compared in {self.engine_dtype}): " + "; ".join(problems[:5]) + more)  # fmt: skip
        return {"sync/check_tensors": float(len(sample) * len(indices)), "sync/check_max_abs_diff": largest}


def _as_served(values: list[float], dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).to(dtype).float()


def served_dtype(rollout: RolloutConfig, checkpoint: str) -> torch.dtype:
    """The dtype the engines hold weights in: their configured dtype, or (``auto``) the checkpoint's."""
    name = rollout.sglang.dtype if rollout.engine == "sglang" else rollout.local.dtype
    if name == "auto":
        name = _checkpoint_dtype(checkpoint)
    dtype = getattr(torch, name, None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def _checkpoint_dtype(checkpoint: str) -> str:
    config_file = Path(checkpoint) / "config.json"
    if not config_file.is_file():
        return "float32"
    config: dict[str, Any] = json.loads(config_file.read_text())
    text = config.get("text_config") or {}
    return str(config.get("dtype") or config.get("torch_dtype") or text.get("dtype") or "float32")
