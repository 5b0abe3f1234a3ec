"""TensorBoard backend: event files under ``<run_dir>/tensorboard/``; view with ``tensorboard --logdir <run_dir>``.

Scalars are written with the step and the wall time of their record; the run config is written once as a
text summary (``config``). A run resumed at step ``S`` opens the writer with ``purge_step=S + 1``, which tells
TensorBoard to discard the events of steps ``> S`` from earlier files, so the curves match the resumed run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SUBDIR = "tensorboard"


class TensorBoardSink:
    def __init__(self, run_dir: str | Path, *, resume_step: int = 0, run_config: Mapping[str, Any] | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # torch raises ImportError when the tensorboard package is missing
            raise ImportError(
                "MetricsLogger.Config.tensorboard=True needs the `tensorboard` package "
                "(pinned in requirements.txt: pip install tensorboard==2.21.0), or set tensorboard=False"
            ) from e
        self.log_dir = Path(run_dir) / SUBDIR
        self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=resume_step + 1 if resume_step else None)
        if run_config and not resume_step:
            text = json.dumps(dict(run_config), indent=2, sort_keys=True)
            self._writer.add_text("config", "```\n" + text + "\n```", global_step=0)

    def log(self, step: int, metrics: Mapping[str, float], *, wall_time: float | None = None) -> None:
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step, walltime=wall_time)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()
