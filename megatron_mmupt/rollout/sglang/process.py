"""One SGLang server process and its lifecycle: the body of an engine's Ray actor (no torch, no weights).

    server = SGLangServer(config, seed=1, devices=("4", "5", "6", "7"))   # the engine's GPUs on this node
    url = server.start()          # python -m sglang.launch_server ...; returns once /health_generate answers
    server.restart(); server.stop()

Devices. The Ray actor holding the server claims (a share of) one GPU, its first; Ray sets the actor's own
``CUDA_VISIBLE_DEVICES`` to that one. The server process needs all of the engine's GPUs, so it is started with
``CUDA_VISIBLE_DEVICES`` set explicitly to ``devices`` (ids as Ray names them on this node, from the run's
placement) and ``base_gpu_id=0``: SGLang's TP rank ``i`` then runs on ``devices[i]``. Without ``devices`` the
process inherits the actor's environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from megatron_mmupt.rollout.errors import EngineUnavailable
from megatron_mmupt.rollout.sglang.args import SGLangConfig, launch_command, server_args
from megatron_mmupt.rollout.sglang.http_json import request_json

Command = Callable[[dict[str, Any]], list[str]]
LOG_TAIL_CHARS = 4000


class SGLangServer:
    """One server process and its lifecycle (the body of a Ray actor; usable without Ray too).

    Args:
        config: the server's settings; ``server_args`` turns them into ``ServerArgs``.
        seed: ``random_seed`` of the server.
        command: ``args -> argv``; SGLang's launcher by default (tests pass ``megatron-mmupt serve``).
        startup_timeout_s: how long ``start`` waits for ``/health_generate`` before giving up.
        log_dir: where the server's stdout/stderr go (``server-<port>.log``).
        devices: GPU ids of the engine on this node, in TP-rank order: the server's ``CUDA_VISIBLE_DEVICES``.
    """

    def __init__(
        self,
        config: SGLangConfig,
        *,
        seed: int,
        command: Command = launch_command,
        startup_timeout_s: float = 900.0,
        log_dir: str = "/tmp",
        devices: tuple[str, ...] = (),
    ) -> None:
        self.config, self.seed, self.command = config, seed, command
        self.devices = tuple(devices)
        self.startup_timeout_s = startup_timeout_s
        self.log_dir = Path(log_dir)
        self.process: subprocess.Popen | None = None
        self.url = ""
        self._log: Path | None = None

    def start(self) -> str:
        """Start the server on a free port of this node; return its URL once it generates."""
        host = _node_address()
        args = server_args(self.config, host=host, port=_free_port(), random_seed=self.seed)
        self._log = self.log_dir / f"server-{args['port']}.log"
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen(
                self.command(args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self._env()
            )
        self.url = f"http://{host}:{args['port']}"
        self._wait_healthy()
        return self.url

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.devices:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.devices)
        return env

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(f"server exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                request_json(self.url + "/health_generate", method="GET", timeout_s=5, retries=0, backoff_s=0)
                return
            except Exception:  # not up yet
                time.sleep(0.5)
        self.stop()
        raise EngineUnavailable(f"server not healthy after {self.startup_timeout_s}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to the server's process group (SGLang runs scheduler/detokenizer children), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> str:
        self.stop()
        return self.start()

    def log_tail(self) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")[-LOG_TAIL_CHARS:]


def local_serve_command(args: dict[str, Any]) -> list[str]:
    """``megatron-mmupt serve`` with the same model, host and port: the CPU stand-in for SGLang's launcher
    (same HTTP API), for runs and tests on machines without GPUs or SGLang."""
    return [sys.executable, "-m", "megatron_mmupt.cli", "serve", "--model-path", str(args["model_path"]),
            "--host", str(args["host"]), "--port", str(args["port"])]  # fmt: skip


def _node_address() -> str:
    """This node's address as other nodes reach it (Ray's view when in a Ray worker, else loopback)."""
    try:
        import ray

        if ray.is_initialized():
            return ray.util.get_node_ip_address()
    except ImportError:
        pass
    return "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]
