"""Observability of a run: stage timers, the metrics logger and its backends, throughput, curves.

Per step the driver times its stages with :class:`StageTimer`, adds ``timer.pop()`` and
:func:`throughput_metrics` to the stages' metrics, and hands them to :meth:`MetricsLogger.log`, which writes
``<run_dir>/metrics.jsonl`` and feeds the console, wandb, TensorBoard and ``curves.png``. See
docs/observability.md for what is logged where and the metric names.
"""

from megatron_mmupt.observability.logger import METRICS_FILE, MetricsLogger, to_floats
from megatron_mmupt.observability.metrics_file import MetricsFile, merge_steps, read_metrics
from megatron_mmupt.observability.plot import PLOT_FILE, plot_curves
from megatron_mmupt.observability.progress import ProgressBar
from megatron_mmupt.observability.throughput import throughput_metrics, tokens_per_second
from megatron_mmupt.observability.timer import StageTimer

__all__ = [
    "METRICS_FILE",
    "PLOT_FILE",
    "MetricsFile",
    "MetricsLogger",
    "ProgressBar",
    "StageTimer",
    "merge_steps",
    "plot_curves",
    "read_metrics",
    "throughput_metrics",
    "to_floats",
    "tokens_per_second",
]
