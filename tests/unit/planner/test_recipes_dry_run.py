"""``megatron-mmupt train --dry-run`` for the shipped cluster recipes on 1, 4 and 16 nodes of 8 GPUs.

Each shape either fits (the plan is printed, exit 0) or fails as expected (exit 2, one line naming the fix):
72B needs TP x PP = 32 GPUs (4 nodes). On 4 nodes it fits because the actor is offloaded during rollout
(``cluster.offload_actor``); resident, its unsharded optimizer state (DP 1) would leave the colocated engines no
KV cache (``test_dry_run_plan.py``). These are the plans of docs/deploy.md.
"""

import pytest

from megatron_mmupt.cli import main

EXPECTED = {
    ("qwen2_5_vl_7b_mmr1", 1): "8 ranks = TP 4 x PP 1 x DP 2",
    ("qwen2_5_vl_7b_mmr1", 4): "32 ranks = TP 4 x PP 1 x DP 8",
    ("qwen2_5_vl_7b_mmr1", 16): "128 ranks = TP 4 x PP 1 x DP 32",
    ("qwen2_5_vl_72b_mmr1", 4): "32 ranks = TP 8 x PP 4 x DP 1",
    ("qwen2_5_vl_72b_mmr1", 16): "128 ranks = TP 8 x PP 4 x DP 4",
}
EXPECTED_FAILURES = {
    ("qwen2_5_vl_72b_mmr1", 1): "needs a multiple of 32 GPUs, and 1 x 8 = 8 GPUs is not one; fix: --nodes 4",
}


@pytest.mark.parametrize("nodes", [1, 4, 16])
@pytest.mark.parametrize("recipe", ["qwen2_5_vl_7b_mmr1", "qwen2_5_vl_72b_mmr1"])
def test_dry_run(recipe, nodes, capsys):
    status = main(["train", "--dry-run", "--recipe", recipe, "--nodes", str(nodes), "--gpus-per-node", "8"])
    out, err = capsys.readouterr()
    if (recipe, nodes) in EXPECTED_FAILURES:
        assert status == 2 and not out
        assert err.startswith("megatron-mmupt train: error: ") and err.count("\n") == 1
        assert EXPECTED_FAILURES[recipe, nodes] in err
    else:
        assert status == 0, err
        assert f"dry run: {recipe} on {nodes} node" in out and ": fits" in out
        assert EXPECTED[recipe, nodes] in out
        assert "memory per GPU" in out and "activations: vision tower" in out


@pytest.mark.parametrize("flag", [["--nodes", "2"], ["--stage-times", "rollout=1,training=1,sync=0"]])
def test_dry_run_flags_belong_to_dry_run(capsys, flag):
    assert main(["train", "--recipe", "demo", *flag]) == 2
    assert "--nodes, --gpus-per-node and --stage-times describe the cluster of --dry-run" in capsys.readouterr().err


def test_dry_run_checks_overrides(capsys):
    assert main(["train", "--dry-run", "--recipe", "qwen2_5_vl_7b_mmr1", "actor.recompute=always"]) == 2
    assert "recompute='always' is not valid" in capsys.readouterr().err
