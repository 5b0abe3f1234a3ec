"""Benchmark: weight sync from the actor's ranks into the engines, per transport, against the driver-routed path.

    python tools/bench_weight_sync.py                    # = --tp 2 --engines 2 --reps 3 --bucket-mib 64

The real run's pieces on Ray, on CPU: a Megatron actor of ``--tp`` ranks (``ActorGroup``, gloo) holding a model
of the Qwen2.5-VL architecture (hidden 1024, 8 layers, fp32: ~0.4 GB), and two sets of ``--engines`` engines:
local engines in Ray actors, and ``megatron-mmupt serve`` servers (SGLang's HTTP API over the local engine,
started by ``SGLangServer`` as SGLang's would be). Each path moves the full model into every engine of its set:

* ``driver`` (the baseline, the path before syncs left the driver): ``ActorGroup.weight_buckets`` gathers the
  buckets on rank 0 and returns them to the driver, which sends them to each engine (``update_weights``);
* ``objects``: rank 0 puts each bucket in Ray's object store once, every local engine reads it;
* ``disk`` (local engines and servers): rank 0 writes safetensors, every engine loads them;
* ``tensor``: each rank packs the buckets and hands the server on "its GPU" handles to its memory (shared
  memory on CPU, CUDA IPC on GPUs: ``rollout/tensor_payload.py``);
* ``distributed``: rank 0 broadcasts each bucket once to every server in one weight-update group (gloo here,
  NCCL on GPUs).

Every path runs through ``bridge.sync.WeightSync`` (the trainer's coordinator) except the baseline. The paths
alternate rep by rep after one warm-up; the table gives the median seconds of a whole sync and GB/s as
model bytes x engines / seconds. Check mode runs once per path first, so each path is known to deliver the
actor's weights before it is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_rollout import LARGE  # the model of bench_rollout's weight-update part (run from tools/: its folder)

from megatron_mmupt.models.tiny_qwen2_5_vl import create_model_folder


@dataclasses.dataclass
class Setup:
    actor: object
    placement: object
    local: object  # EngineBalancer over local engines
    servers: object  # EngineBalancer over serve processes
    model: Path
    run_dir: Path
    model_bytes: int


def start(args: argparse.Namespace, work: Path, stack: contextlib.ExitStack) -> Setup:
    import ray

    from megatron_mmupt.actor.group import ActorGroup
    from megatron_mmupt.actor.megatron.actor import MegatronActor
    from megatron_mmupt.algorithm.config import AlgorithmConfig, KLConfig
    from megatron_mmupt.demo.task import DemoDataset
    from megatron_mmupt.parallel.cluster import ClusterConfig, _python_path
    from megatron_mmupt.parallel.config import ParallelConfig
    from megatron_mmupt.parallel.run_placement import RunPlacement
    from megatron_mmupt.rollout.balancer import EngineBalancer
    from megatron_mmupt.rollout.local.engine import LocalEngine
    from megatron_mmupt.rollout.ray_local import launch_local_engines
    from megatron_mmupt.rollout.sglang.args import SGLangConfig
    from megatron_mmupt.rollout.sglang.client import SGLangClient
    from megatron_mmupt.rollout.sglang.ray_engine import launch_engines, local_serve_command

    DemoDataset.Config(num_train=4, num_test=4).build().write(work / "data")  # its processor folder
    model = create_model_folder(work / "model", work / "data" / "processor", LARGE, seed=0)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    env = {"PYTHONPATH": os.pathsep.join(_python_path())}
    ray.init(num_cpus=4 + 2 * args.engines, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env})  # fmt: skip
    stack.callback(ray.shutdown)
    cluster = ClusterConfig(num_gpus_per_worker=0, cpus_per_worker=1.0)
    placement = RunPlacement.reserve(cluster, world_size=args.tp, num_engines=args.engines, engine_tp=1,
                                     engines_on_gpu=False, cpus_per_engine=1.0)  # fmt: skip
    stack.callback(placement.release)
    actor_config = MegatronActor.Config(model=str(model), parallel=ParallelConfig(tensor_degree=args.tp), spec="local")
    actor = ActorGroup.launch(actor_config, AlgorithmConfig(kl=KLConfig(coef=0.0)), cluster, world_size=args.tp,
                              seed=0, placement=placement)  # fmt: skip
    stack.callback(actor.shutdown)
    local_engines = launch_local_engines(args.engines, LocalEngine.Config(model_path=str(model)), num_cpus=1.0)
    local = EngineBalancer(EngineBalancer.Config(), engines=local_engines)
    stack.callback(local.shutdown)
    client = SGLangClient.Config(model_path=str(model))
    remote = launch_engines(args.engines, SGLangConfig(model_path=str(model)), client, seed=0,
                            command=local_serve_command, startup_timeout_s=300)  # fmt: skip
    servers = EngineBalancer(EngineBalancer.Config(), engines=remote)
    stack.callback(servers.shutdown)
    model_bytes = sum(p.stat().st_size for p in model.glob("*.safetensors"))
    return Setup(actor, placement, local, servers, model, work / "run", model_bytes)


def weight_sync(setup: Setup, transport: str, args: argparse.Namespace, *, check: bool):
    from megatron_mmupt.bridge.sync import WeightSync
    from megatron_mmupt.config.overrides import apply_overrides
    from megatron_mmupt.rollout.config import RolloutConfig

    engine = "local" if transport == "objects" or transport == "disk-local" else "sglang"
    rollout = apply_overrides(RolloutConfig(), [
        f"engine={engine}", f"num_engines={args.engines}", f"weight_sync.transport={transport.split('-')[0]}",
        f"weight_sync.check_every={1 if check else 0}", "weight_sync.check_tensors=1000",
        "sglang.dtype=auto",  # what the serve processes hold: the checkpoint's fp32
    ])  # fmt: skip
    balancer = setup.local if engine == "local" else setup.servers
    return WeightSync(rollout.weight_sync, actor=setup.actor, rollout=balancer, placement=setup.placement,
                      rollout_config=rollout, actor_model=str(setup.model), world_size=args.tp,
                      bucket_bytes=args.bucket_mib << 20, run_dir=setup.run_dir)  # fmt: skip


def paths(setup: Setup, args: argparse.Namespace) -> dict[str, Callable[[int], None]]:
    """Path name -> one sync of version ``v``."""
    bucket_bytes = args.bucket_mib << 20

    def driver(version: int) -> None:
        setup.local.update_weights(setup.actor.weight_buckets(bucket_bytes), version=version)  # via the driver

    out: dict[str, Callable[[int], None]] = {"driver (baseline)": driver}
    for transport in ("objects", "disk-local", "tensor", "distributed", "disk"):
        weight_sync(setup, transport, args, check=True).sync(version=1)  # delivers the actor's weights, or fails
        sync = weight_sync(setup, transport, args, check=False)
        out[transport] = lambda version, sync=sync: sync.sync(version=version)
    return out


def measure(setup: Setup, args: argparse.Namespace) -> dict[str, list[float]]:
    runs = paths(setup, args)
    times: dict[str, list[float]] = {name: [] for name in runs}
    version = 10
    for rep in range(args.reps + 1):  # rep 0 warms up
        for name, run in runs.items():
            version += 1
            start = time.perf_counter()
            run(version)
            if rep:
                times[name].append(time.perf_counter() - start)
    return times


ENGINES = {"driver (baseline)": "local", "objects": "local", "disk-local": "local"}


def report(times: dict[str, list[float]], setup: Setup, args: argparse.Namespace) -> str:
    gb = setup.model_bytes / 1e9
    base = statistics.median(times["driver (baseline)"])
    lines = [
        f"{gb:.3f} GB of weights (fp32) into each of {args.engines} engines, actor TP={args.tp}, "
        f"buckets <= {args.bucket_mib} MiB; median of {args.reps}:",
        "",
        "| path | engines | seconds | GB/s (weights x engines / s) | vs driver |",
        "|---|---|---|---|---|",
    ]
    for name, values in times.items():
        seconds = statistics.median(values)
        kind = "local (Ray actors)" if ENGINES.get(name) == "local" else "`megatron-mmupt serve` (HTTP)"
        lines.append(f"| {name} | {kind} | {seconds:.2f} | {gb * args.engines / seconds:.2f} | "
                     f"{base / seconds:.2f}x |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tp", type=int, default=2, help="actor ranks (tensor parallel)")
    parser.add_argument("--engines", type=int, default=2, help="engines per set (<= --tp for tensor)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--bucket-mib", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        setup = start(args, Path(tmp), stack)
        print(report(measure(setup, args), setup, args), flush=True)


if __name__ == "__main__":
    main()
