"""GPU assignment of actor ranks and engines (pure; the Ray side runs in tests/e2e/test_cluster_placement.py)."""

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.parallel.placement import COLOCATED_SHARES, assign_gpus, nodes_needed


def test_colocated_engines_share_the_actor_gpus_and_are_fed_by_the_ranks_on_them():
    a = assign_gpus(world_size=16, num_engines=4, engine_tp=4, gpus_per_node=8, colocated=True)
    assert a.num_gpus == 16 and a.actor == tuple(range(16))
    assert a.engines == ((0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11), (12, 13, 14, 15))
    assert a.feeders(2) == (8, 9, 10, 11)
    assert a.shares == COLOCATED_SHARES and a.shares.actor + a.shares.engine < 1.0


def test_disaggregated_engines_start_on_a_multiple_of_their_tp_size():
    a = assign_gpus(world_size=6, num_engines=2, engine_tp=4, gpus_per_node=8, colocated=False)
    assert a.actor == tuple(range(6))
    assert a.engines == ((8, 9, 10, 11), (12, 13, 14, 15))  # GPUs 6 and 7 idle: no engine straddles a node
    assert a.num_gpus == 16 and a.shares.actor == a.shares.engine == 1.0
    with pytest.raises(ValueError, match="colocated"):
        a.feeders(0)
    b = assign_gpus(world_size=4, num_engines=1, engine_tp=4, gpus_per_node=8, colocated=False)
    assert (b.engines, b.num_gpus) == (((4, 5, 6, 7),), 8)


def test_impossible_shapes_name_the_keys_to_change():
    with pytest.raises(ConfigError, match=r"tp_size=3 must divide the 8 GPUs .* valid sizes: 1, 2, 4, 8"):
        assign_gpus(world_size=8, num_engines=2, engine_tp=3, gpus_per_node=8, colocated=True)
    with pytest.raises(ConfigError, match=r"tp_size=16 must divide"):
        assign_gpus(world_size=16, num_engines=1, engine_tp=16, gpus_per_node=8, colocated=True)
    with pytest.raises(ConfigError, match=r"rollout.num_engines=2 or trainer.world_size=16"):
        assign_gpus(world_size=8, num_engines=4, engine_tp=4, gpus_per_node=8, colocated=True)


def test_nodes_needed_fills_whole_nodes_first():
    assert nodes_needed(16, 8) == [8, 8]
    assert nodes_needed(12, 8) == [8, 4]
    assert nodes_needed(3, 8) == [3]
