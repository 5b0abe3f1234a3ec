"""SGLang engines on a cluster: one Ray actor per engine owns an SGLang server process on its GPUs.

    engines = launch_engines(4, sglang_config, client_config, seed=1)    # 4 Ray actors, 4 servers
    balancer = EngineBalancer.Config().build(engines=engines, restart=lambda i: engines[i].restart())

Split of work. The actor (``SGLangServer``, placed by Ray with ``num_gpus=tp_size``, so it sees exactly
its GPUs) starts ``python -m sglang.launch_server`` with ``sglang_args.server_args``, waits for
``/health_generate``, and stops or restarts it. Everything else goes over HTTP from the trainer's process
(``RemoteSGLangEngine`` wraps an ``SGLangClient``): generation, control and the weight transports, because
CUDA-IPC handles must be created by the process that owns the tensors. The actor never touches weights.

Tested on CPU with ``megatron-mmupt serve`` as the server command (same HTTP API); the real
``sglang.launch_server`` path needs GPUs and was not run here.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from megatron_mmupt.data.prompt_batch import PromptBatch
from megatron_mmupt.rollout.engine import EngineHealth, EngineUnavailable, MemoryTag, SamplingConfig, WeightBucket
from megatron_mmupt.rollout.http_json import request_json
from megatron_mmupt.rollout.sglang_args import SGLangConfig, launch_command, server_args
from megatron_mmupt.rollout.sglang_client import SGLangClient
from megatron_mmupt.rollout.types import RolloutGroup

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
    """

    def __init__(
        self,
        config: SGLangConfig,
        *,
        seed: int,
        command: Command = launch_command,
        startup_timeout_s: float = 900.0,
        log_dir: str = "/tmp",
    ) -> None:
        self.config, self.seed, self.command = config, seed, command
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
                self.command(args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"http://{host}:{args['port']}"
        self._wait_healthy()
        return self.url

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
    return [sys.executable, "-m", "megatron_mmupt.cli", "serve", "--model", str(args["model_path"]),
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


class RemoteSGLangEngine:
    """A ``RolloutEngine``: requests over HTTP from this process, lifecycle through the Ray actor."""

    def __init__(self, actor: Any, client: SGLangClient, *, control_timeout_s: float = 900.0) -> None:
        self.actor, self.client, self.control_timeout_s = actor, client, control_timeout_s

    def restart(self) -> RemoteSGLangEngine:
        """Restart the server (same node, new port) and point the client at it. Its weights are the
        checkpoint's again (version 0): a balancer keeps it out until the next weight sync."""
        import ray

        url = ray.get(self.actor.restart.remote(), timeout=self.control_timeout_s)
        config = dataclasses.replace(self.client.config, url=url)
        self.client = SGLangClient(config)
        return self

    def generate(self, batch: PromptBatch, sampling: SamplingConfig) -> list[RolloutGroup]:
        return self.client.generate(batch, sampling)

    def update_weights(self, buckets: Iterable[WeightBucket], *, version: int) -> None:
        self.client.update_weights(buckets, version=version)

    def update_weights_from_disk(self, path: str | Path, *, version: int) -> None:
        self.client.update_weights_from_disk(path, version=version)

    def release_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self.client.release_memory_occupation(tags)

    def resume_memory_occupation(self, tags: Sequence[MemoryTag] | None = None) -> None:
        self.client.resume_memory_occupation(tags)

    def pause_generation(self, mode: str = "abort") -> None:
        self.client.pause_generation(mode)

    def continue_generation(self) -> None:
        self.client.continue_generation()

    def flush_cache(self) -> None:
        self.client.flush_cache()

    def health(self) -> EngineHealth:
        return self.client.health()

    @property
    def weight_version(self) -> int:
        return self.client.weight_version

    def shutdown(self) -> None:
        import ray

        try:
            ray.get(self.actor.stop.remote(), timeout=self.control_timeout_s)
        finally:
            ray.kill(self.actor)


def launch_engines(
    num_engines: int,
    sglang: SGLangConfig,
    client: SGLangClient.Config,
    *,
    seed: int,
    command: Command = launch_command,
    num_gpus: float | None = None,
    num_cpus: float = 1.0,
    startup_timeout_s: float = 900.0,
) -> list[RemoteSGLangEngine]:
    """Start ``num_engines`` Ray actors with ``num_gpus`` GPUs each (``None``: ``sglang.tp_size``), and their
    servers, in parallel.

    Engine ``i`` gets ``random_seed = seed + i * tp_size`` (slime's rule), so engines do not draw the same
    noise. Ray must be initialized by the caller.
    """
    import ray

    gpus = sglang.tp_size if num_gpus is None else num_gpus
    actor_class = ray.remote(num_gpus=gpus, num_cpus=num_cpus)(SGLangServer)
    actors = [
        actor_class.remote(sglang, seed=seed + i * sglang.tp_size, command=command, startup_timeout_s=startup_timeout_s)
        for i in range(num_engines)
    ]
    urls = ray.get([actor.start.remote() for actor in actors], timeout=startup_timeout_s + 60)
    return [
        RemoteSGLangEngine(actor, SGLangClient(dataclasses.replace(client, url=url)))
        for actor, url in zip(actors, urls, strict=True)
    ]
