"""The 7B recipe's placement on a simulated cluster: Ray with 1 or 2 nodes of 8 declared (fake) GPUs.

The real placement code runs (``RunPlacement.reserve``, ``ActorGroup.launch``, ``sglang_engine.start_servers``,
``SGLangServer``); only the GPU work is replaced: ``ProbeWorker`` stands in for a Megatron rank and a fake
server for ``sglang.launch_server`` (``testing/cluster_probe.py``), each reporting where it runs and which
devices it was given. Layouts are the planner's for the recipe (``megatron-mmupt train --dry-run``):
colocated, 8 actor ranks (TP 4) and 2 engines of TP 4 per node; disaggregated, one engine of TP 4 per node and
the actor on the other GPUs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.request

import pytest

from megatron_mmupt.actor.group import ActorGroup
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.parallel.cluster import ClusterConfig
from megatron_mmupt.parallel.run_placement import RunPlacement
from megatron_mmupt.planner import cluster_shape
from megatron_mmupt.planner.layout import plan_layout
from megatron_mmupt.planner.model_shape import resolve_model_shape
from megatron_mmupt.recipes import load_recipe
from megatron_mmupt.rollout.sglang.ray_engine import start_servers
from megatron_mmupt.testing.cluster_probe import ProbeWorker, fake_server_command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # 16 Python workers start slowly on a loaded 2-core machine
GPUS_PER_NODE = 8
READY_TIMEOUT_S = 300.0  # a safety net: a loaded 2-core machine starts 16 Python workers slowly


@pytest.fixture(scope="module", params=[1, 2], ids=["1-node", "2-nodes"])
def cluster(request):
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Raylets prestart a Python worker per declared CPU for the first driver: on a 2-core machine that alone
    # costs more than the test. Colocated, each of the 8 bundles of a node reserves 2 CPUs (a rank's and an
    # engine's: every bundle the same, as any bundle may become any slot), so a node declares 16.
    os.environ["RAY_prestart_worker_first_driver"] = "0"  # noqa: SIM112 (Ray's flag is spelled this way)
    nodes = request.param
    simulated = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 16, "num_gpus": GPUS_PER_NODE, "include_dashboard": False}
    )
    for _ in range(nodes - 1):  # the nodes share one IP: their order after sorting is their random node ids'
        simulated.add_node(num_cpus=16, num_gpus=GPUS_PER_NODE)
    ray.init(address=simulated.address, log_to_driver=False)
    simulated.wait_for_nodes()
    yield nodes
    ray.shutdown()
    simulated.shutdown()


def _recipe_layout(nodes: int, colocate: bool):
    overrides = [f"cluster.colocate={str(colocate).lower()}"] + ([] if colocate else [f"rollout.num_engines={nodes}"])
    config = apply_overrides(load_recipe("qwen2_5_vl_7b_mmr1"), overrides)
    layout = plan_layout(
        config, resolve_model_shape(config.actor.model), cluster_shape(config, nodes=nodes, gpus_per_node=GPUS_PER_NODE)
    )
    return apply_overrides(config, layout.overrides()), layout


def _launch(config, colocate: bool):
    import ray

    cluster = ClusterConfig(num_gpus_per_worker=1, colocate=colocate, gpus_per_node=GPUS_PER_NODE,
                            startup_timeout_s=READY_TIMEOUT_S)  # fmt: skip
    placement = RunPlacement.reserve(
        cluster, world_size=config.trainer.world_size, num_engines=config.rollout.num_engines,
        engine_tp=config.rollout.sglang.tp_size, engines_on_gpu=True, cpus_per_engine=1.0,
    )  # fmt: skip
    actor = ActorGroup.launch(config.actor, config.algorithm, cluster, world_size=config.trainer.world_size, seed=1,
                              placement=placement, worker_class=ProbeWorker)  # fmt: skip
    ranks = ray.get([w.report.remote() for w in actor.workers], timeout=READY_TIMEOUT_S)
    sglang = dataclasses.replace(config.rollout.sglang, model_path=config.actor.model)  # as launch_rollout does
    servers = start_servers(config.rollout.num_engines, sglang, seed=1, command=fake_server_command,
                            placement=placement, startup_timeout_s=READY_TIMEOUT_S)  # fmt: skip
    engines = [json.loads(urllib.request.urlopen(url + "/server_info", timeout=10).read()) for _, url in servers]
    return placement, actor, servers, ranks, engines


def _stop(placement, actor, servers) -> None:
    import ray

    for server, _ in servers:
        ray.get(server.stop.remote())
        ray.kill(server)
    actor.shutdown()
    placement.release()


@pytest.mark.parametrize("colocate", [True, False], ids=["colocated", "disaggregated"])
def test_recipe_placement_schedules_and_claims_each_gpu_correctly(cluster, colocate):
    nodes = cluster
    config, _ = _recipe_layout(nodes, colocate)
    world, num_engines, tp = config.trainer.world_size, config.rollout.num_engines, config.rollout.sglang.tp_size
    assert (world, num_engines) == ((8 * nodes, 2 * nodes) if colocate else (4 * nodes, nodes))
    placement, actor, servers, ranks, engines = _launch(config, colocate)
    try:
        # Every actor rank: one GPU, visible as its only device, LOCAL_RANK 0, master on rank 0's node.
        actor_gpus = [(r["raylet_pid"], r["ray_gpu_ids"][0]) for r in ranks]
        assert all(len(r["ray_gpu_ids"]) == 1 and r["cuda_visible_devices"] == r["ray_gpu_ids"][0] for r in ranks)
        assert len(set(actor_gpus)) == world  # no two ranks on one GPU
        assert {r["env"]["MASTER_ADDR"] for r in ranks} == {ranks[0]["node_ip"]}
        assert [r["env"]["RANK"] for r in ranks] == [str(i) for i in range(world)]
        assert {(r["env"]["WORLD_SIZE"], r["env"]["LOCAL_RANK"]) for r in ranks} == {(str(world), "0")}
        for rank, report in enumerate(ranks):  # ranks follow the sorted slots: rank r on slot r's node and GPU
            slot = placement.actor_gpu(rank)
            assert (report["node_id"], report["ray_gpu_ids"][0]) == (slot.node_id, slot.gpu_id)
        tp_groups = [actor_gpus[i : i + 4] for i in range(0, world, 4)]  # the actor's TP 4: one node each
        assert all(len({node for node, _ in group}) == 1 for group in tp_groups)
        # colocated: the actor spans every node; disaggregated: it fills the first GPUs, the engines come after
        assert len({node for node, _ in actor_gpus}) == (nodes if colocate else -(-world // GPUS_PER_NODE))
        # Every engine: tp GPUs of one node, given to its server as CUDA_VISIBLE_DEVICES with base_gpu_id 0.
        engine_gpus = []
        for e, info in enumerate(engines):
            devices = info["cuda_visible_devices"].split(",")
            assert devices == list(placement.engine_devices(e)) and len(devices) == tp
            assert (info["tp_size"], info["base_gpu_id"]) == (tp, 0)
            engine_gpus += [(info["raylet_pid"], d) for d in devices]
        assert len(set(engine_gpus)) == num_engines * tp  # no GPU in two engines
        if colocate:  # each GPU: exactly one actor rank and one engine rank, the engine fed by its own GPUs' ranks
            assert sorted(engine_gpus) == sorted(actor_gpus)
            for e in range(num_engines):
                feeders = placement.feeders(e)
                assert [actor_gpus[r] for r in feeders] == engine_gpus[e * tp : (e + 1) * tp]
        else:  # the engines' GPUs and the actor's are disjoint
            assert not set(engine_gpus) & set(actor_gpus)
    finally:
        _stop(placement, actor, servers)
    assert _gpus_free_within(GPUS_PER_NODE * nodes, timeout_s=30)  # every reservation given back


def _gpus_free_within(expected: float, timeout_s: float) -> bool:
    import ray

    deadline = time.monotonic() + timeout_s  # Ray returns removed placement groups' resources asynchronously
    while ray.available_resources().get("GPU", 0) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return ray.available_resources().get("GPU", 0) == expected


def test_a_shape_larger_than_the_cluster_fails_naming_the_fix(cluster):
    nodes = cluster
    config = ClusterConfig(num_gpus_per_worker=1, gpus_per_node=GPUS_PER_NODE, startup_timeout_s=1)
    with pytest.raises(ConfigError, match=r"needs \d+ GPUs .* Ray sees \d+ GPUs .* Fix: add nodes"):
        RunPlacement.reserve(config, world_size=GPUS_PER_NODE * (nodes + 1), num_engines=nodes + 1, engine_tp=8,
                             engines_on_gpu=True, cpus_per_engine=1.0)  # fmt: skip
    with pytest.raises(ConfigError, match=r"tp_size=3 must divide the 8 GPUs of a node .*; valid sizes: 1, 2, 4, 8"):
        RunPlacement.reserve(config, world_size=6, num_engines=2, engine_tp=3, engines_on_gpu=True,
                             cpus_per_engine=1.0)  # fmt: skip
