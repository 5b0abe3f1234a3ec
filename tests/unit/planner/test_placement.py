"""Layouts on a cluster shape, and the errors that name the fix when there is none."""

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.planner import cluster_shape
from megatron_mmupt.planner.errors import PlanError
from megatron_mmupt.planner.layout import ClusterShape, plan_layout


def place(config, small, nodes=1, gpus=8):
    return plan_layout(config, small, cluster_shape(config, nodes=nodes, gpus_per_node=gpus))


def test_colocated_takes_every_gpu(small, small_run):
    layout = place(small_run(), small, nodes=2)
    assert (layout.actor.tensor, layout.actor.pipeline, layout.actor.data) == (2, 2, 4)
    assert (layout.engines.num_engines, layout.engines.num_gpus, layout.idle_gpus) == (8, 16, 0)
    assert layout.overrides() == ["trainer.world_size=16", "rollout.num_engines=8"]
    # 16 sequences per optimizer step over DP 4: 4 per rank, 2 micro-batches of 2.
    assert (layout.actor.sequences_per_rank, layout.actor.num_micro_batches) == (4, 2)


def test_disaggregated_keeps_the_engines_gpus(small, small_run):
    layout = place(small_run("cluster.colocate=false", "rollout.num_engines=1"), small)
    # The engine takes 2 GPUs; the actor takes 4 of the other 6 (a multiple of TP x PP = 4); 2 stay idle.
    assert (layout.colocated, layout.actor.world_size, layout.engines.num_gpus, layout.idle_gpus) == (False, 4, 2, 2)


def test_engines_on_cpu_use_no_gpu(small, small_run):
    layout = place(small_run("rollout.engine=local", "rollout.local.device=cpu"), small)
    assert (layout.colocated, layout.engines.num_gpus, layout.actor.world_size) == (False, 0, 8)


def test_world_not_a_multiple_of_tp_pp_names_the_nodes(small, small_run):
    with pytest.raises(PlanError, match=r"needs a multiple of 4 GPUs, and 1 x 6 = 6 GPUs is not one; fix: --nodes 2"):
        place(small_run(), small, gpus=6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["actor.parallel.tensor_degree=3"], "tensor_degree=3 must divide the 4 attention heads"),
        (["actor.parallel.pipeline_degree=3"], "pipeline_degree=3 must divide the 4 layers"),
    ],
)
def test_model_does_not_split(small, small_run, overrides, message):
    with pytest.raises(ConfigError, match=message):
        place(small_run(*overrides), small)


def test_tp_above_the_kv_heads_is_planned(small, small_run):
    # 2 key/value heads at TP=4: each is shared by 2 ranks (Megatron-Core's query groups below the TP size).
    layout = place(small_run("actor.parallel.tensor_degree=4"), small)
    assert (layout.actor.tensor, layout.actor.pipeline, layout.actor.data) == (4, 2, 1)


def test_engine_must_fit_on_a_node(small, small_run):
    with pytest.raises(
        PlanError, match=r"tp_size=4 does not divide the 6 GPUs of a node.*fix: rollout.sglang.tp_size=3"
    ):
        place(small_run("rollout.sglang.tp_size=4", "actor.parallel.pipeline_degree=1"), small, gpus=6)


def test_engines_leave_no_room_for_the_actor(small, small_run):
    config = small_run("cluster.colocate=false", "rollout.num_engines=4")  # 8 engine GPUs of 8
    with pytest.raises(PlanError, match=r"leaving 0 for an actor that needs TP x PP = 4; fix: --nodes 2"):
        place(config, small)


def test_more_data_parallel_ranks_than_sequences(small, small_run):
    config = small_run("data.sampler.batch_size=2", "trainer.updates_per_step=1", "rollout.sampling.n=2")
    with pytest.raises(PlanError, match="data-parallel size 8 exceeds the 4 sequences of one optimizer step"):
        place(config, small, nodes=4)


def test_empty_cluster():
    with pytest.raises(PlanError, match="a cluster of 0 nodes x 8 GPUs is empty"):
        ClusterShape(nodes=0, gpus_per_node=8, gpu_memory_bytes=1)
