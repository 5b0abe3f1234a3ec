"""Stand-ins for the GPU work of a run, for placement tests on a Ray cluster with declared (fake) GPUs.

``ProbeWorker`` takes an actor rank's place in ``ActorGroup.launch``: it is placed, gets its master address
and sets its rank environment exactly as ``ActorWorker`` does, then reports what it got instead of building a
Megatron model. ``python -m megatron_mmupt.testing.cluster_probe --host H --port P ...`` takes the SGLang
server's place in ``SGLangServer`` (named as such: a fake server): it answers ``/health_generate`` and
reports, on ``/server_info``, the devices and arguments it was started with.
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from megatron_mmupt.parallel.rank_env import master_address, rank_environment


def _where() -> dict[str, Any]:
    import ray

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "ray_gpu_ids": [str(i) for i in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "raylet_pid": os.environ.get("RAY_RAYLET_PID", ""),  # one raylet per node: identifies the node
        "pid": os.getpid(),
    }


class ProbeWorker:
    """An actor rank without a model: ``ActorGroup.launch(..., worker_class=ProbeWorker)``."""

    def __init__(self, rank: int, world_size: int, num_threads: int) -> None:
        self.rank, self.world_size = rank, world_size
        self.env: dict[str, str] = {}

    def address(self) -> tuple[str, int]:
        return master_address()

    def setup(self, master: tuple[str, int], config: Any, algorithm: Any, seed: int) -> dict[str, int]:
        where = _where()
        self.env = rank_environment(
            master=master, rank=self.rank, world_size=self.world_size, gpu_ids=where["ray_gpu_ids"]
        )
        return {"rank": self.rank}

    def report(self) -> dict[str, Any]:
        return _where() | {"rank": self.rank, "env": self.env}


def fake_server_command(args: dict[str, Any]) -> list[str]:
    """The command ``SGLangServer`` starts instead of ``sglang.launch_server`` (same host, port, TP size)."""
    import sys

    return [sys.executable, "-m", "megatron_mmupt.testing.cluster_probe", "--host", str(args["host"]),
            "--port", str(args["port"]), "--tp-size", str(args["tp_size"]),
            "--base-gpu-id", str(args["base_gpu_id"])]  # fmt: skip


def _serve(host: str, port: int, info: dict[str, Any]) -> None:
    body = json.dumps(info).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path in ("/health_generate", "/health", "/server_info")
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if self.path == "/server_info" else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer((host, port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="fake SGLang server: reports its devices (placement tests)")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tp-size", type=int, required=True)
    parser.add_argument("--base-gpu-id", type=int, required=True)
    args = parser.parse_args()
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    info = {"cuda_visible_devices": devices, "tp_size": args.tp_size, "base_gpu_id": args.base_gpu_id,
            "raylet_pid": os.environ.get("RAY_RAYLET_PID", ""), "pid": os.getpid()}  # fmt: skip
    _serve(args.host, args.port, info)


if __name__ == "__main__":
    main()
