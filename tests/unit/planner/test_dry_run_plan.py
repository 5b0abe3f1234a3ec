"""Whole plans: the config sized to the cluster, the fixes a failure proposes (each must really fit), the text."""

import dataclasses

import pytest

from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.planner import cluster_shape, dry_run, make_plan
from megatron_mmupt.planner.errors import PlanError
from megatron_mmupt.recipes import load_recipe

UNFIT_7B = ["actor.recompute=none", "actor.distributed_optimizer=false"]  # needs 99 GiB per GPU of 80


def recipe(name, *overrides):
    return apply_overrides(load_recipe(name), list(overrides))


def test_plan_sizes_the_run_to_the_cluster():
    config = recipe("qwen2_5_vl_7b_mmr1")
    plan = make_plan(config, cluster_shape(config, nodes=4, gpus_per_node=8))
    assert (plan.config.trainer.world_size, plan.config.rollout.num_engines) == (32, 8)
    assert (plan.layout.actor.data, plan.shape.name) == (8, "Qwen2.5-VL-7B")
    assert plan.estimate.training_peak <= plan.estimate.gpu_memory


@pytest.mark.parametrize("offload", [True, False], ids=["offload", "resident"])
def test_every_proposed_fix_fits(offload):
    config = recipe("qwen2_5_vl_7b_mmr1", *UNFIT_7B, f"cluster.offload_actor={str(offload).lower()}")
    cluster = cluster_shape(config, nodes=1, gpus_per_node=8)
    with pytest.raises(PlanError, match=r"training needs 99\.0 GiB per GPU, more than the 80\.0 GiB") as error:
        make_plan(config, cluster)
    fixes = error.value.fixes
    assert "actor.recompute=full actor.distributed_optimizer=true" in fixes
    # Alone, full recompute leaves a resident actor's colocated engines no KV cache; an offloaded one, enough.
    assert ("actor.recompute=full" in fixes) == offload
    for fix in fixes:
        if fix.startswith("--nodes"):
            make_plan(config, dataclasses.replace(cluster, nodes=int(fix.split()[1])))
        else:
            make_plan(apply_overrides(config, fix.split()), cluster)


def test_kv_cache_that_cannot_hold_a_group():
    config = recipe("qwen2_5_vl_72b_mmr1", "cluster.offload_actor=false")  # offloaded (the default), it fits
    with pytest.raises(PlanError, match=r"KV cache pool \(0\.5 GiB per GPU beside the actor's resident 46\.4 GiB\)"):
        make_plan(config, cluster_shape(config, nodes=4, gpus_per_node=8))


def test_context_length_shorter_than_a_sequence():
    config = recipe("qwen2_5_vl_7b_mmr1", "rollout.sglang.context_length=3000")
    with pytest.raises(
        PlanError, match=r"context_length=3000 is shorter .* = 4096; fix: rollout.sglang.context_length=4096"
    ):
        make_plan(config, cluster_shape(config, nodes=1, gpus_per_node=8))


def test_bigger_gpus_fit_what_smaller_do_not():
    config = recipe("qwen2_5_vl_7b_mmr1", *UNFIT_7B, "cluster.gpu_memory_gib=141")  # H200
    assert make_plan(config, cluster_shape(config, nodes=1, gpus_per_node=8)).estimate.training_peak > 80 << 30


def test_warnings():
    config = recipe("qwen2_5_vl_7b_mmr1", "rollout.sglang.mem_fraction_static=null", "cluster.colocate=false")
    plan = make_plan(config, cluster_shape(config, nodes=2, gpus_per_node=8))
    assert any("mem_fraction_static is unset" in w for w in plan.warnings)
    # 2 engines x TP 4 keep 8 GPUs; the actor (TP 4) takes the other 8.
    assert plan.layout.idle_gpus == 0 and plan.layout.actor.world_size == 8


def test_rendered_plan():
    text = dry_run(recipe("qwen2_5_vl_7b_mmr1"), nodes=1, gpus_per_node=8)
    assert text.startswith("dry run: qwen2_5_vl_7b_mmr1 on 1 node x 8 GPUs (80.0 GiB each): fits")
    assert "8 ranks = TP 4 x PP 1 x DP 2; bf16, recompute full, distributed optimizer" in text
    assert "rollout: 2 SGLang engines x TP 4 = 8 GPUs, colocated with the actor" in text
    assert "run with: trainer.world_size=8 rollout.num_engines=2" in text
    table = text.split("memory per GPU")[1].splitlines()
    rows = {line.rsplit(None, 2)[0]: line.split()[-2:] for line in table[3:]}
    assert rows["optimizer state (fp32)"] == ["14.4", "host"]  # 12 bytes x 2.58B parameters / DP 2; offloaded
    assert rows["engine weights (TP 4)"] == ["-", "3.9"]  # 8.29B x 2 bytes / 4
    assert rows["weight sync (actor + engine weights, reserve)"] == ["-", "17.5"]  # 4.8 + 4.8 (reference) + 3.9 + 4
    assert rows["total"] == ["62.5", "48.0"]  # rollout: 0.6 x 80 GiB, SGLang's share
    # 8 GPUs x (weights 4.8 + optimizer 14.4 + reference 4.8)
    assert "actor offload: 192.3 GiB of host memory per node (weights, optimizer state, reference;" in text
