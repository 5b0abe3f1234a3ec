"""Weight sync from the actor's ranks (TP=2, 2 gloo ranks) into two engines, and the actor's offload.

The engines are two ``megatron-mmupt serve`` processes (SGLang's HTTP API over the local engine, started by
``SGLangServer`` as SGLang's would be); the actor's ranks are spawned processes that push with
``bridge.transports.WeightPusher``, as ``ActorWorker`` does:

* ``tensor``: each rank packs every bucket and sends handles to its own memory to the engine "on its GPU"
  (rank r -> engine r; shared memory here, CUDA IPC on GPUs);
* ``distributed``: rank 0 broadcasts each bucket once to both engines in one weight-update group (gloo here);
* ``disk``: rank 0 writes safetensors, both engines load them.

Between pushes the actor trains a step, so each push carries new weights. After each push rank 0 reads every
weight of both engines in full (``get_weights_by_name``) and compares with the HF tensors it exported: bit for
bit. Then the offload: every storage of the policy's weights, gradients and optimizer state freed, computing
refused, and everything back bit for bit.
"""

from __future__ import annotations

import pytest
import torch

from megatron_mmupt.rollout.sglang.args import SGLangConfig
from megatron_mmupt.rollout.sglang.ray_engine import SGLangServer, local_serve_command
from megatron_mmupt.rollout.sglang.transports.calls import ServerEndpoint

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from actor_run import ActorRun
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.actor_run import ActorRun
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed


def _engine_weights(url: str, names_and_sizes: dict[str, int]) -> dict[str, list[float]]:
    endpoint = ServerEndpoint(url, retries=0)
    return {
        n: endpoint.post("/get_weights_by_name", {"name": n, "truncate_size": k}) for n, k in names_and_sizes.items()
    }


def _push_and_compare(run: ActorRun, pusher, plan, urls: list[str]) -> dict:
    import torch.distributed as dist

    from megatron_mmupt.bridge.exporter import iter_hf_buckets

    actor = run.actor

    def export(receivers):
        return iter_hf_buckets(actor.unwrapped, actor.hf_config, actor.groups, spec=actor.spec,
                               bucket_bytes=plan.bucket_bytes, receivers=receivers)  # fmt: skip

    report = pusher.push(plan, export)
    expected = run.hf_weights()  # every rank: the actor's weights in HF naming
    dist.barrier()
    if dist.get_rank() != 0:
        return {}
    sizes = {n: t.numel() for n, t in expected.items()}
    differing = [
        (url, n)
        for url in urls
        for n, got in _engine_weights(url, sizes).items()
        if got != expected[n].flatten().tolist()
    ]
    return {"report": report, "differing": differing, "num_names": len(expected)}


def _offload_round_trip(run: ActorRun) -> dict:
    from megatron_mmupt.actor.megatron.offload import StateGroup

    actor = run.actor
    groups = list(StateGroup)
    before = {g: [t.detach().clone() for t in actor._state_tensors(g)] for g in groups}
    freed = actor.offload(groups)
    sizes = {g.value: sum(t.untyped_storage().nbytes() for t in actor._state_tensors(g)) for g in groups}
    try:
        run.step()
        refused = "no error"
    except RuntimeError as e:
        refused = str(e)
    restored = actor.onload()
    after = {g: list(actor._state_tensors(g)) for g in groups}
    kept = (StateGroup.WEIGHTS, StateGroup.OPTIMIZER)  # gradients are dropped, not kept
    equal = {g.value: all(torch.equal(a, b) for a, b in zip(before[g], after[g], strict=True)) for g in kept}
    grads_zero = all(float(t.abs().sum()) == 0.0 for t in after[StateGroup.GRADS])
    metrics = run.step()  # trains again
    return {"freed": freed, "restored": restored, "sizes_offloaded": sizes, "refused": refused, "equal": equal,
            "grads_zero": grads_zero, "step_after": metrics}  # fmt: skip


def _worker(rank: int, world_size: int, model_dir: str, data_dir: str, urls: list[str], disk_dir: str) -> dict:
    from megatron_mmupt.bridge.transports import SyncPlan, WeightPusher

    run = ActorRun(model_dir, data_dir, tp=2, seed=0)
    pusher = WeightPusher(rank, world_size)
    targets = tuple(ServerEndpoint(url) for url in urls)
    common = {"targets": targets, "bucket_bytes": 1 << 16, "checkpoint": model_dir}
    out = {}
    plans = {
        "tensor": SyncPlan(transport="tensor", version=1, feeders=((0,), (1,)), **common),
        "distributed": SyncPlan(transport="distributed", version=2, backend="gloo", fingerprint_values=5, **common),
        "disk": SyncPlan(transport="disk", version=3, disk_dir=disk_dir, **common),
    }
    for name, plan in plans.items():
        run.step()  # new weights for every push
        out[name] = _push_and_compare(run, pusher, plan, urls)
    pusher.close()
    out["offload"] = _offload_round_trip(run)
    return out


@pytest.fixture(scope="module")
def results(tiny_model_dir, demo_dir, tmp_path_factory):
    logs, disk = tmp_path_factory.mktemp("serve-logs"), tmp_path_factory.mktemp("weight-sync")
    config = SGLangConfig(model_path=str(tiny_model_dir))
    servers = [SGLangServer(config, seed=i, command=local_serve_command, startup_timeout_s=120, log_dir=str(logs))
               for i in range(2)]  # fmt: skip
    try:
        urls = [server.start() for server in servers]
        ranks = run_distributed(_worker, 2, str(tiny_model_dir), str(demo_dir), urls, str(disk), timeout=240)
        versions = [ServerEndpoint(url).post("/model_info", method="GET")["weight_version"] for url in urls]
        folders = sorted(p.name for p in disk.iterdir())
    finally:
        for server in servers:
            server.stop()
    return ranks[0], versions, folders


@pytest.mark.parametrize("transport", ["tensor", "distributed", "disk"])
def test_every_engine_holds_the_actors_weights_bit_for_bit(results, transport):
    first, _, _ = results
    pushed = first[transport]
    assert pushed["differing"] == [] and pushed["num_names"] > 30
    report = pushed["report"]
    assert report.num_tensors == pushed["num_names"] and report.num_buckets > 2  # 64 KiB buckets: several
    assert report.num_bytes > 0 and report.seconds > 0


def test_versions_and_fingerprints(results):
    first, versions, folders = results
    assert versions == ["3", "3"]  # the last push (disk) set version 3 on both engines
    assert folders == ["v3"]  # the disk transport keeps the latest version's folder only
    fingerprints = first["distributed"]["report"].fingerprints  # check mode: leading values of every tensor
    assert len(fingerprints) == first["distributed"]["num_names"] and all(len(v) <= 5 for v in fingerprints.values())
    assert first["tensor"]["report"].fingerprints == {}


def test_offload_frees_every_storage_and_restores_it_exactly(results):
    offload = results[0]["offload"]
    assert offload["sizes_offloaded"] == {"weights": 0, "grads": 0, "optimizer": 0}
    assert offload["freed"] == offload["restored"] > 0
    assert "offloaded (colocated rollout); call onload() first" in offload["refused"]
    assert offload["equal"] == {"weights": True, "optimizer": True} and offload["grads_zero"]
    assert torch.isfinite(torch.tensor(offload["step_after"]["actor/grad_norm"]))
