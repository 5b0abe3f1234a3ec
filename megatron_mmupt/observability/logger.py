"""The run's metrics logger: one ``log(step, metrics)`` per step fans out to every enabled backend.

* ``<run_dir>/metrics.jsonl`` (always; the run's own record, exact under resume: :mod:`.metrics_file`);
* a console progress bar with ETA and a postfix of the main metrics, plus a line of all metrics every
  ``log_every`` steps (:mod:`.progress`);
* Weights & Biases (:mod:`.wandb_sink`), offline by default, under ``<run_dir>/wandb/``;
* TensorBoard event files under ``<run_dir>/tensorboard/`` (:mod:`.tensorboard_sink`);
* ``<run_dir>/curves.png``, redrawn every ``log_every`` steps and at ``close`` (:mod:`.plot`).

Metric values may be Python numbers or 0-d tensors (the algorithm stage's metrics stay on the device until
here): they are moved to the host in one transfer per device. Only one rank should log: build the logger on
every rank with ``enabled=(rank == 0)``; a disabled logger does nothing at all.

Per step, in the driver::

    with timer.stage("rollout"):
        ...
    times = timer.pop()
    logger.log(step, metrics | rewards.metrics() | times | throughput_metrics(num_tokens=n, step_seconds=times["time/step"]))
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch

from megatron_mmupt.config.configurable import ConfigError, Configurable, check_choice, check_positive
from megatron_mmupt.observability.metrics_file import MetricsFile
from megatron_mmupt.observability.plot import PLOT_FILE, plot_curves
from megatron_mmupt.observability.progress import ProgressBar, format_line
from megatron_mmupt.observability.tensorboard_sink import TensorBoardSink
from megatron_mmupt.observability.wandb_sink import WANDB_MODES, WandbSink

METRICS_FILE = "metrics.jsonl"


class MetricsLogger(Configurable):
    """Writes each step's metrics to ``metrics.jsonl`` and the enabled backends (see the module docstring)."""

    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(Configurable.Config):
        console: bool = True
        """Show a progress bar (steps, rate, ETA, main metrics) and print all metrics every ``log_every`` steps."""
        log_every: int = 10
        """Cadence, in steps, of the console's line of all metrics and of redrawing ``curves.png``.
        ``metrics.jsonl``, wandb and TensorBoard get every step."""
        wandb: bool = False
        """Log to Weights & Biases (run files under ``<run_dir>/wandb/``)."""
        wandb_project: str = "megatron-mmupt"
        """wandb project of the run; the run's name is the run name."""
        wandb_mode: str = "auto"
        """``auto`` (online when WANDB_API_KEY is set, else offline), ``online``, ``offline`` or ``disabled``."""
        tensorboard: bool = False
        """Write TensorBoard event files under ``<run_dir>/tensorboard/``."""
        plot: bool = True
        """Draw the main curves into ``<run_dir>/curves.png``."""

        def __post_init__(self) -> None:
            check_positive("log_every", self.log_every)
            check_choice("wandb_mode", self.wandb_mode, WANDB_MODES)
            if self.wandb and not self.wandb_project:
                raise ConfigError("wandb_project must not be empty when wandb=True")

    def __init__(
        self,
        config: Config,
        *,
        run_dir: str | Path,
        total_steps: int,
        resume_step: int = 0,
        run_config: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        enabled: bool = True,
        console_file: IO[str] | None = None,
    ):
        """Open every enabled backend for the run in ``run_dir``.

        Args:
            total_steps: steps of the whole run (the progress bar's total).
            resume_step: the last step done before this process (0: a fresh run); later entries are dropped.
            run_config: the resolved run config (``RunConfig.to_dict()``), given to wandb and TensorBoard.
            run_name: the run's name in wandb (default: the run directory's name).
            enabled: ``False`` on every rank but one: then nothing is opened, written or printed.
            console_file: where the progress bar goes (default stderr).
        """
        self.config = config
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.total_steps = total_steps
        self._closed = not enabled
        self._last_plotted: int | None = None
        self._unplotted = False  # logged since the last drawing
        self._file: MetricsFile | None = None
        self._progress: ProgressBar | None = None
        self._wandb: WandbSink | None = None
        self._tensorboard: TensorBoardSink | None = None
        if not enabled:
            return
        try:
            self._file = MetricsFile(self.metrics_path, resume_step=resume_step)
            if config.tensorboard:
                self._tensorboard = TensorBoardSink(self.run_dir, resume_step=resume_step, run_config=run_config)
            if config.wandb:
                self._wandb = WandbSink(
                    self.run_dir,
                    project=config.wandb_project,
                    mode=config.wandb_mode,
                    name=run_name or self.run_dir.name,
                    run_config=run_config,
                )
            if config.console:
                self._progress = ProgressBar(total_steps, initial_step=resume_step, file=console_file)
        except BaseException:
            self.close(exit_code=1)  # release the backends opened before the failing one
            raise

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS_FILE

    @property
    def plot_path(self) -> Path:
        return self.run_dir / PLOT_FILE

    @property
    def wandb_run_dir(self) -> Path | None:
        """Folder of the wandb run (``<run_dir>/wandb/offline-run-*`` offline); ``None`` without wandb."""
        return self._wandb.run_dir if self._wandb is not None else None

    def log(self, step: int, metrics: Mapping[str, Any]) -> dict[str, float]:
        """Record ``metrics`` of ``step`` (steps never go back; a step may be logged in several calls).

        Returns the values as logged (floats), or ``{}`` when disabled.
        """
        if not self.enabled:
            return {}
        if self._closed:
            raise RuntimeError("MetricsLogger.log() after close()")
        values = to_floats(metrics)
        record = self._file.append(step, values)
        if self._tensorboard is not None:
            self._tensorboard.log(step, values, wall_time=record["wall_time"])
        if self._wandb is not None:
            self._wandb.log(step, values)
        if self._progress is not None:
            self._progress.update(step, values)
        self._unplotted = True
        if step % self.config.log_every == 0:
            if self._progress is not None:
                self._progress.write(format_line(step, self.total_steps, values))
            if self.config.plot and self._last_plotted != step:
                self._draw()
                self._last_plotted = step
        return values

    def close(self, exit_code: int = 0) -> None:
        """Flush and close every backend and draw the final curves; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            self._file.close()
            if self.config.plot and self._unplotted:
                self._draw()  # also after a failure: the curves up to it are what one looks at first
        if self._progress is not None:
            self._progress.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.close(exit_code)

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exit_code=0 if exc_type is None else 1)

    def _draw(self) -> None:
        self._unplotted = False
        # NOTE: a figure that fails to draw must not end a training run; the data is safe in metrics.jsonl.
        try:
            plot_curves(self.metrics_path, self.plot_path)
        except Exception as e:
            warnings.warn(f"could not draw {self.plot_path}: {e!r}", stacklevel=3)


def to_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Python floats of numbers and 0-d (or one-element) tensors, one host transfer per device.

    Raises ``TypeError`` naming the key of a value that is not a number.
    """
    out: dict[str, float] = {}
    by_device: dict[torch.device, list[tuple[str, torch.Tensor]]] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"metric names must be strings, got {key!r}")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise TypeError(f"metric {key!r} is a tensor of shape {tuple(value.shape)}; log one number")
            by_device.setdefault(value.device, []).append((key, value.detach().reshape(())))
        elif isinstance(value, numbers.Real):  # int, float, bool, numpy scalars
            out[key] = float(value)
        else:
            raise TypeError(f"metric {key!r} is a {type(value).__name__}, not a number")
    for items in by_device.values():
        host = torch.stack([t.to(torch.float64) for _, t in items]).tolist()  # one device -> host copy
        out.update(zip((k for k, _ in items), host, strict=True))
    return {k: out[k] for k in metrics}
