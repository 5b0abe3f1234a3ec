"""Train/rollout log-prob mismatch summary: mean/max |diff| and k3 KL over masked tokens."""

import math

import torch

from megatron_mmupt.algorithm.metrics import logprob_mismatch_metrics


def test_mismatch_over_masked_tokens_only():
    train = torch.tensor([[-0.5, -1.0, -2.0], [-0.1, -0.3, 0.0]])
    rollout = torch.tensor([[-0.6, -1.0, float("nan")], [-0.4, -0.3, 5.0]])  # padding may hold anything
    mask = torch.tensor([[True, True, False], [True, True, False]])
    m = logprob_mismatch_metrics(train, rollout, mask)

    diffs = [0.1, 0.0, 0.3, 0.0]
    assert math.isclose(m["mismatch/logprob_abs_diff_mean"].item(), sum(diffs) / 4, rel_tol=1e-6)
    assert math.isclose(m["mismatch/logprob_abs_diff_max"].item(), 0.3, rel_tol=1e-6)
    # k3 of KL(rollout || train) per token, log r = log pi_train - log pi_rollout
    pairs = [(-0.5, -0.6), (-1.0, -1.0), (-0.1, -0.4), (-0.3, -0.3)]
    k3 = [math.exp(t - r) - (t - r) - 1 for t, r in pairs]
    assert math.isclose(m["mismatch/k3_kl"].item(), sum(k3) / 4, rel_tol=1e-5)
    assert all(v.dim() == 0 and not v.requires_grad for v in m.values())


def test_identical_logprobs_and_empty_mask_give_zero():
    lp = torch.randn(3, 4, requires_grad=True)
    same = logprob_mismatch_metrics(lp, lp.detach().clone(), torch.ones(3, 4, dtype=torch.bool))
    assert all(v.item() == 0.0 for v in same.values())
    empty = logprob_mismatch_metrics(lp, lp.detach() - 1.0, torch.zeros(3, 4, dtype=torch.bool))
    assert all(v.item() == 0.0 for v in empty.values())
