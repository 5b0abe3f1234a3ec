"""The consensus-collapse guard: follows the label-free collapse signals and lowers the learning signal in time.

A user of label-free training has no labels to see it go wrong, so the guard watches what the votes show
(:mod:`.collapse_signals`) and, once per step, between the algorithm stage and the actor update::

    train_batch, guard_metrics = guard.step(step, train_batch, rewards, groups)   # in train.py
    ...
    if guard.stopped: break

1. Each signal is smoothed over the steps (an exponential moving average, ``smoothing`` the newest step's weight);
   the mean of the first ``baseline_steps`` steps is the run's baseline.
2. A signal **alarms** when its smoothed value crosses its threshold: absolute ones (``max_majority_share``,
   ``min_answer_entropy``, ``min_distinct_answers``, ``max_unanimous_rate``, ``max_reference_kl``: the policy's
   drift from the reference, which a run that holds keeps small) from the first step, relative ones
   (``max_share_rise`` over the baseline share, ``min_entropy_ratio`` of the token entropy to its baseline) once
   the baseline is complete. ``None`` turns a threshold off.
3. On an alarmed step the guard acts on this step's batch (``action``): ``warn`` only warns; ``skip`` drops the
   groups whose majority share is below ``skip_below_share`` (narrow majorities are the ones most often wrong);
   ``scale`` multiplies the advantages by ``advantage_scale``: the policy loss is linear in the advantages, so this
   is the KL coefficient divided by ``advantage_scale`` relative to the policy term (and a smaller step, while
   Adam's moments remember larger gradients); ``stop`` trains no more. After ``stop_after`` alarmed steps in a
   row, any action becomes ``stop``.

Every step logs ``guard/*`` (signals, each threshold's alarm, what was done) and an alarmed step warns with a
:class:`CollapseWarning` line naming the signals. The guard's state (averages, baseline, alarm streak) goes into
the run's checkpoints (``state_dict``), so a resumed run decides what the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import torch

from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.config.configurable import ConfigError, Configurable, check_choice, check_positive, check_range
from megatron_mmupt.reward.diagnostics import RewardBatch
from megatron_mmupt.rollout.types import RolloutGroup
from megatron_mmupt.trainer.collapse_signals import CollapseSignals

GuardAction = Literal["warn", "skip", "scale", "stop"]

SIGNALS = ("majority_share", "answer_entropy", "distinct_answers", "unanimous_rate", "token_entropy", "reference_kl")

# (threshold field, signal it reads, True when the alarm is "above the threshold")
THRESHOLDS: tuple[tuple[str, str, bool], ...] = (
    ("max_majority_share", "majority_share", True),
    ("max_share_rise", "share_rise", True),
    ("min_answer_entropy", "answer_entropy", False),
    ("min_distinct_answers", "distinct_answers", False),
    ("max_unanimous_rate", "unanimous_rate", True),
    ("min_entropy_ratio", "entropy_ratio", False),
    ("max_reference_kl", "reference_kl", True),
)


class CollapseWarning(UserWarning):
    """A collapse signal crossed its threshold (label-free training may be converging to a consensus)."""


class CollapseGuard(Configurable):
    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        action: GuardAction = "warn"
        """What an alarmed step does: ``warn``, ``skip`` (drop narrow-majority groups), ``scale`` (shrink the
        advantages, i.e. raise the KL term's weight) or ``stop`` (end training)."""
        max_majority_share: float | None = 0.9
        """Alarm when the smoothed majority share exceeds this (1 = every group unanimous)."""
        max_share_rise: float | None = 0.2
        """Alarm when the smoothed majority share exceeds its baseline by more than this (runs that hold sharpen
        too: on the demo's 40 steps their share rose by up to 0.153)."""
        min_answer_entropy: float | None = None
        """Alarm when the smoothed answer entropy per group (nats; ``log G`` = all answers differ) falls below this."""
        min_distinct_answers: float | None = None
        """Alarm when the smoothed number of distinct answers per group falls below this."""
        max_unanimous_rate: float | None = 0.5
        """Alarm when the smoothed share of unanimous groups exceeds this."""
        min_entropy_ratio: float | None = 0.4
        """Alarm when the smoothed token entropy falls below this fraction of its baseline (the demo's runs that
        hold went down to 0.54 in 40 steps)."""
        max_reference_kl: float | None = 0.03
        """Alarm when the smoothed KL of the policy to the reference (k3, sampled tokens) exceeds this. Calibrated
        on the demo (``tests/unit/trainer/collapse_traces.json``): its collapsing run (lr 2e-4) crosses 0.03 at step
        17, 13 steps before its held-out pass@1 falls; the runs that hold stay below 0.027 over 40 steps. The scale
        depends on the KL coefficient and learning rate: retune on a recipe's own runs with ``replay``."""
        baseline_steps: int = 3
        """Steps whose mean signals are the baseline of the relative thresholds."""
        smoothing: float = 0.3
        """Weight of the newest step in each signal's moving average (1 = no smoothing)."""
        skip_below_share: float = 0.75
        """``action=skip``: groups whose majority share is below this are dropped on an alarmed step."""
        advantage_scale: float = 0.25
        """``action=scale``: the advantages of an alarmed step are multiplied by this."""
        stop_after: int = 0
        """Stop training after this many alarmed steps in a row, whatever the action (0: never)."""

        def __post_init__(self) -> None:
            check_choice("action", self.action, get_args(GuardAction))
            for name in ("max_majority_share", "max_unanimous_rate", "min_entropy_ratio"):
                if getattr(self, name) is not None:
                    check_range(name, getattr(self, name), 0.0, 1.0)
            for name in ("max_share_rise", "min_answer_entropy", "min_distinct_answers", "max_reference_kl"):
                if getattr(self, name) is not None:
                    check_range(name, getattr(self, name), 0.0)
            check_positive("baseline_steps", self.baseline_steps)
            check_range("skip_below_share", self.skip_below_share, 0.0, 1.0)
            check_range("stop_after", self.stop_after, 0)
            if not 0.0 < self.smoothing <= 1.0:
                raise ConfigError(f"smoothing={self.smoothing!r} must be in (0, 1] (1: no smoothing)")
            if not 0.0 < self.advantage_scale <= 1.0:
                raise ConfigError(f"advantage_scale={self.advantage_scale!r} must be in (0, 1] (it lowers the signal)")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.smoothed: dict[str, float] = {}
        self.baseline: dict[str, float] = {}
        self._baseline_sums: dict[str, float] = {}
        self._steps = 0
        self.alarmed_in_a_row = 0
        self.stopped = False

    def state_dict(self) -> dict:
        """What a resumed run needs to take the same decisions (plain floats: it goes into the trainer state)."""
        return {
            "smoothed": dict(self.smoothed), "baseline": dict(self.baseline),
            "baseline_sums": dict(self._baseline_sums), "steps": self._steps,
            "alarmed_in_a_row": self.alarmed_in_a_row, "stopped": self.stopped,
        }  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.smoothed, self.baseline = dict(state["smoothed"]), dict(state["baseline"])
        self._baseline_sums, self._steps = dict(state["baseline_sums"]), int(state["steps"])
        self.alarmed_in_a_row, self.stopped = int(state["alarmed_in_a_row"]), bool(state["stopped"])

    def step(
        self, step: int, batch: TrainBatch, rewards: RewardBatch, groups: Sequence[RolloutGroup]
    ) -> tuple[TrainBatch, dict[str, float]]:
        """Observe this step's signals, decide, and return the batch to train on with the ``guard/*`` metrics."""
        signals = CollapseSignals.measure(rewards, groups, batch)
        values = self.observe(signals)
        alarms = self.alarms(values)
        self.alarmed_in_a_row = self.alarmed_in_a_row + 1 if any(alarms.values()) else 0
        action = self._action(any(alarms.values()))
        batch, skipped = self._apply(action, batch, rewards)
        metrics = {f"guard/{k}": v for k, v in values.items()}
        if signals.token_entropy is not None:
            metrics["entropy/sampled_tokens"] = signals.token_entropy  # this step's, unsmoothed
        if signals.reference_kl is not None:
            metrics["kl/reference"] = signals.reference_kl  # this step's, before its update
        metrics |= {f"guard/alarm_{name}": float(on) for name, on in alarms.items()}
        metrics |= {
            "guard/alarm": float(any(alarms.values())),
            "guard/skipped_groups": float(skipped),
            "guard/advantage_scale": self.config.advantage_scale if action == "scale" else 1.0,
            "guard/stop": float(self.stopped),
        }
        if any(alarms.values()):
            crossed = ", ".join(f"{self._signal_of(n)}={values[self._signal_of(n)]:.3f} ({n}={getattr(self.config, n)})"
                                for n, on in alarms.items() if on)  # fmt: skip
            warnings.warn(f"step {step}: collapse signals crossed their thresholds: {crossed}; action: {action}",
                          CollapseWarning, stacklevel=2)  # fmt: skip
        return batch, metrics

    def observe(self, signals: CollapseSignals) -> dict[str, float]:
        """Update the moving averages and the baseline; returns the smoothed signals and the relative ones."""
        self._steps += 1
        alpha = self.config.smoothing
        for name in SIGNALS:
            value = getattr(signals, name)
            if value is None or value != value:  # no log-probs, or an empty batch: keep the last value
                continue
            last = self.smoothed.get(name)
            self.smoothed[name] = value if last is None else (1 - alpha) * last + alpha * value
            if self._steps <= self.config.baseline_steps:
                self._baseline_sums[name] = self._baseline_sums.get(name, 0.0) + value
                self.baseline[name] = self._baseline_sums[name] / self._steps
        values = dict(self.smoothed)
        if self._steps > self.config.baseline_steps:
            if "majority_share" in values:
                values["share_rise"] = values["majority_share"] - self.baseline["majority_share"]
            if self.baseline.get("token_entropy"):
                values["entropy_ratio"] = values["token_entropy"] / self.baseline["token_entropy"]
        return values

    def alarms(self, values: dict[str, float]) -> dict[str, bool]:
        """Each enabled threshold -> whether its signal crosses it (``False`` while the signal is not known)."""
        out = {}
        for name, signal, above in THRESHOLDS:
            limit = getattr(self.config, name)
            if limit is None:
                continue
            value = values.get(signal)
            out[name] = value is not None and (value > limit if above else value < limit)
        return out

    def _action(self, alarmed: bool) -> str:
        if self.stopped or (self.config.stop_after and self.alarmed_in_a_row >= self.config.stop_after):
            return "stop"
        return self.config.action if alarmed else "none"

    def _apply(self, action: str, batch: TrainBatch, rewards: RewardBatch) -> tuple[TrainBatch, int]:
        if action == "stop":
            self.stopped = True
            return batch.select(slice(0, 0)), len({int(g) for g in batch.group_ids})
        if action == "scale":
            return dataclasses.replace(batch, advantages=batch.advantages * self.config.advantage_scale), 0
        if action == "skip":
            shares = torch.tensor([g.judgement.vote.majority_share for g in rewards], dtype=torch.float64)  # (G,)
            keep = shares[batch.group_ids] >= self.config.skip_below_share  # (N,)
            return batch.select(keep), len({int(g) for g in batch.group_ids[~keep]})
        return batch, 0

    @staticmethod
    def _signal_of(threshold: str) -> str:
        return next(signal for name, signal, _ in THRESHOLDS if name == threshold)


def replay(config: CollapseGuard.Config, steps: Iterable[tuple[int, CollapseSignals]]) -> list[int]:
    """The steps at which a guard with ``config`` alarms on recorded signals (e.g. ``CollapseSignals.from_metrics``
    of a finished run's ``metrics.jsonl``): tune the thresholds on runs already made, without training again.

    Exact for ``action=warn`` (the recorded run's); other actions change the run after their first alarm.
    """
    guard = config.build()
    alarmed = []
    for step, signals in steps:
        if any(guard.alarms(guard.observe(signals)).values()):
            alarmed.append(step)
    return alarmed
