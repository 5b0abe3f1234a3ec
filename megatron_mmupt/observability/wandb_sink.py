"""Weights & Biases backend: one wandb run per training run, its files under ``<run_dir>/wandb/``.

Modes (``MetricsLogger.Config.wandb_mode``): ``auto`` is ``online`` when ``WANDB_API_KEY`` is set and ``offline``
otherwise; ``offline`` writes ``<run_dir>/wandb/offline-run-<time>-<id>/`` to upload later with
``wandb sync <that folder>``; ``disabled`` runs wandb's no-op run (nothing written).

The run id is kept in ``<run_dir>/wandb_run_id``, so a resumed run continues the same wandb run
(``resume="allow"``). NOTE: online, wandb ignores steps it has already seen, so after resuming from a
checkpoint older than the last logged step, the redone steps do not replace the old ones in wandb;
``metrics.jsonl`` and TensorBoard (``purge_step``) do show the run exactly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WANDB_MODES = ("auto", "online", "offline", "disabled")
RUN_ID_FILE = "wandb_run_id"


def resolve_mode(mode: str, environ: Mapping[str, str] = os.environ) -> str:
    """The wandb mode ``mode`` stands for: ``auto`` -> ``online`` with ``WANDB_API_KEY`` set, else ``offline``."""
    if mode not in WANDB_MODES:
        raise ValueError(f"wandb mode {mode!r} is not valid; choose one of: {', '.join(WANDB_MODES)}")
    if mode == "auto":
        return "online" if environ.get("WANDB_API_KEY") else "offline"
    return mode


class WandbSink:
    def __init__(
        self, run_dir: str | Path, *, project: str, mode: str, name: str | None, run_config: Mapping[str, Any] | None
    ):
        """Start (or resume) the wandb run of ``run_dir``; ``run_config`` becomes the run's config."""
        import wandb  # NOTE: imported here: importing wandb costs about a second, and most tests never log to it

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file = run_dir / RUN_ID_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
        self.mode = resolve_mode(mode)
        self._run = wandb.init(
            project=project,
            name=name,
            id=run_id,
            resume="allow",
            mode=self.mode,
            dir=str(run_dir),
            config=dict(run_config or {}),
            reinit="create_new",
        )
        if self.mode != "disabled":
            id_file.write_text(run_id + "\n")

    @property
    def run_dir(self) -> Path | None:
        """Folder of this wandb run (``.../wandb/offline-run-*``), ``None`` when disabled."""
        return None if self.mode == "disabled" else Path(self._run.dir).parent

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self._run.log(dict(metrics), step=step)

    def close(self, exit_code: int = 0) -> None:
        """Finish the run and stop this process's wandb service (other wandb runs of the process end too)."""
        import wandb

        self._run.finish(exit_code=exit_code)
        # NOTE: with wandb 0.31 offline, finish() can return before the service has written the run's
        # transaction log (the .wandb file held only its 7-byte header, about one time in four here); teardown
        # waits for the service to exit, so `wandb sync` right after close, or after a later crash, sees it all.
        wandb.teardown()
