"""Console progress: a tqdm bar over the run's steps (rate, ETA) with a compact postfix of the main metrics.

The postfix shows, when the step has them: the mean reward, the policy's accuracy when labels are present
(``pass@1``, the pseudo-label accuracy ``label_acc``, the held-out ``eval_pass@1`` on evaluation steps), the KL to the reference, the entropy and the training
throughput. ``write`` prints a full line of metrics above the bar without breaking it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import IO

from tqdm import tqdm

POSTFIX_KEYS: tuple[tuple[str, str], ...] = (
    ("reward/mean", "reward"),
    ("label/pass_at_1", "pass@1"),
    ("label/label_accuracy", "label_acc"),
    ("eval/pass_at_1", "eval_pass@1"),
    ("kl/mean", "kl"),
    ("entropy/mean", "entropy"),
    ("perf/tokens_per_s", "tok/s"),
)
"""``(metric name, short label)`` of the postfix, in display order."""


class ProgressBar:
    def __init__(self, total_steps: int, *, initial_step: int = 0, file: IO[str] | None = None):
        """A bar at ``initial_step`` of ``total_steps`` (resumed runs start where they left off)."""
        self._bar = tqdm(
            total=total_steps,
            initial=initial_step,
            unit="step",
            dynamic_ncols=True,
            file=file if file is not None else sys.stderr,
        )

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        """Move the bar to ``step`` (never backwards) and show the postfix of ``metrics``."""
        postfix = format_postfix(metrics)
        if postfix:
            self._bar.set_postfix_str(postfix, refresh=False)
        if step > self._bar.n:
            self._bar.update(step - self._bar.n)
        else:
            self._bar.refresh()

    def write(self, line: str) -> None:
        self._bar.write(line, file=self._bar.fp)

    def close(self) -> None:
        self._bar.close()


def format_postfix(metrics: Mapping[str, float]) -> str:
    """``"reward=0.512 kl=0.0013 tok/s=1.2e+03"``: the postfix keys present in ``metrics``."""
    return " ".join(f"{label}={format_value(metrics[key])}" for key, label in POSTFIX_KEYS if key in metrics)


def format_line(step: int, total_steps: int, metrics: Mapping[str, float]) -> str:
    """``"step 10/100 | kl/mean=0.0013 reward/mean=0.5 ..."``: every metric, sorted by name."""
    body = " ".join(f"{k}={format_value(v)}" for k, v in sorted(metrics.items()))
    return f"step {step}/{total_steps} | {body}"


def format_value(value: float) -> str:
    """Short and readable: ``12``, ``0.5123``, ``1.3e-05``, ``34.9k``, ``1.2M``."""
    if not math.isfinite(value):
        return str(value)
    for threshold, unit, suffix in ((1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / unit:.3g}{suffix}"
    if value == int(value):
        return str(int(value))
    return f"{value:.4g}"
