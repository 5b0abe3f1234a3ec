"""What the rollout ahead of training (``trainer.max_staleness >= 1``) saves per step, from stage times.

    times = StageTimes.parse("runs/x/metrics.jsonl")          # or "rollout=2.1,training=3.4,sync=0.3"
    estimate = estimate_overlap(times, num_steps=100, save_every=10, colocated=False)
    estimate.speedup                                           # synchronous seconds / seconds ahead

The model follows ``trainer/rollout_ahead.py``: the engines' generation of a step overlaps the driver's work on the
previous one (reward, log-probs, update, checkpoint), so a step costs ``max(rollout, training) + sync`` instead of
``rollout + training + sync``; the first step after each barrier (the start, every checkpoint) is generated on
that barrier's weights and overlaps nothing. A colocated run stays synchronous. The stage times should be those
of the layout being planned: disaggregated, the engines and the actor each have fewer GPUs than colocated.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from megatron_mmupt.config.configurable import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds per step: the engines' generation, the driver's work (reward, log-probs, update, checkpoint,
    other), and the weight sync."""

    rollout: float
    training: float
    sync: float

    def __post_init__(self) -> None:
        for name in ("rollout", "training", "sync"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"stage time {name}={getattr(self, name)!r} must be a number of seconds >= 0")

    @classmethod
    def parse(cls, text: str) -> StageTimes:
        """``rollout=S,training=S,sync=S``, or a finished run's ``metrics.jsonl`` (its means per step)."""
        if "=" not in text:
            return cls.from_metrics(Path(text))
        try:
            values = {k.strip(): float(v) for k, v in (item.split("=", 1) for item in text.split(","))}
            return cls(**values)
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"--stage-times {text!r}: give rollout=S,training=S,sync=S (seconds per step) or a metrics.jsonl ({e})"
            ) from None

    @classmethod
    def from_metrics(cls, path: Path) -> StageTimes:
        """Means over a run's steps from its second on (the first pays the start-up); the held-out evaluation is
        left out, the rest of ``time/step`` counts as the driver's work."""
        if not path.is_file():
            raise ConfigError(f"--stage-times {path}: no such metrics.jsonl (or give rollout=S,training=S,sync=S)")
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if "time/step" in r and r.get("step", 0) >= 2] or [r for r in rows if "time/step" in r]
        if not rows:
            raise ConfigError(f"--stage-times {path}: no step with time/* metrics")

        def mean(key: str) -> float:
            return sum(r.get(key, 0.0) for r in rows) / len(rows)

        rollout, sync = mean("time/rollout"), mean("time/sync")
        return cls(rollout=rollout, sync=sync, training=mean("time/step") - mean("time/eval") - rollout - sync)


@dataclasses.dataclass(frozen=True, slots=True)
class OverlapEstimate:
    times: StageTimes
    synchronous_s: float
    """Mean seconds per step of the synchronous loop."""
    ahead_s: float
    """Mean seconds per step with the rollout ahead of training."""
    barriers: int
    """Steps that overlap nothing (the first, and the first after each checkpoint)."""

    @property
    def speedup(self) -> float:
        return self.synchronous_s / self.ahead_s if self.ahead_s else 1.0


def estimate_overlap(times: StageTimes, *, num_steps: int, save_every: int, colocated: bool) -> OverlapEstimate:
    """Mean seconds per step over a run of ``num_steps`` with a checkpoint every ``save_every`` steps (0: none)."""
    synchronous = times.rollout + times.training + times.sync
    if colocated or num_steps < 1:
        return OverlapEstimate(times, synchronous, synchronous, num_steps)
    checkpoints = sum(1 for s in range(1, num_steps) if save_every > 0 and s % save_every == 0)
    barriers = 1 + checkpoints
    overlapped = max(times.rollout, times.training) + times.sync
    ahead = (barriers * synchronous + (num_steps - barriers) * overlapped) / num_steps
    return OverlapEstimate(times, synchronous, ahead, barriers)


def render_overlap(estimate: OverlapEstimate, *, colocated: bool) -> str:
    t = estimate.times
    given = f"rollout {t.rollout:.2f} s, training {t.training:.2f} s, sync {t.sync:.2f} s per step"
    if colocated:
        return f"rollout ahead of training: none in a colocated run (the loop stays synchronous); stage times {given}"
    return (
        f"rollout ahead of training (trainer.max_staleness >= 1): {estimate.ahead_s:.2f} s per step against "
        f"{estimate.synchronous_s:.2f} s synchronous, {estimate.speedup:.2f}x (stage times {given}; "
        f"{estimate.barriers} step(s) without overlap: the first and the first after each checkpoint)"
    )
