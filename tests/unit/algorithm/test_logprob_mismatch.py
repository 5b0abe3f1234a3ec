"""Train/rollout log-prob mismatch summary: |diff|, k3 KL and effective sample size, overall and per version lag."""

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


def test_identical_logprobs_and_empty_mask_give_zero_gap_and_full_ess():
    lp = torch.randn(3, 4, requires_grad=True)
    for rollout, mask in ((lp.detach().clone(), True), (lp.detach() - 1.0, False)):
        m = logprob_mismatch_metrics(lp, rollout, torch.full((3, 4), mask))
        ess = {k for k in m if "/ess_" in k}
        assert ess == {"mismatch/ess_token", "mismatch/ess_seq"}
        assert all(m[k].item() == 1.0 for k in ess)
        assert all(v.item() == 0.0 for k, v in m.items() if k not in ess)


def test_effective_sample_size_and_per_lag_metrics_by_hand():
    # train = 0, so rho = pi_train / pi_rollout = exp(-rollout). Rows (lag 0, 1, 1):
    # row 0 rho (1, 1); row 1 rho (2, 1); row 2 rho (0.5, padding).
    ln2 = math.log(2.0)
    train = torch.zeros(3, 2)
    rollout = torch.tensor([[0.0, 0.0], [-ln2, 0.0], [ln2, float("nan")]])
    mask = torch.tensor([[True, True], [True, True], [True, False]])
    m = logprob_mismatch_metrics(train, rollout, mask, version_lag=torch.tensor([0, 1, 1]))
    # ESS = (sum w)^2 / (n sum w^2). Tokens (1, 1, 2, 1, 0.5): 5.5^2 / (5 * 7.25) = 0.834483;
    # sequences (1, 2, 0.5): 3.5^2 / (3 * 5.25) = 0.777778.
    assert math.isclose(m["mismatch/ess_token"].item(), 30.25 / 36.25, rel_tol=1e-6)
    assert math.isclose(m["mismatch/ess_seq"].item(), 12.25 / 15.75, rel_tol=1e-6)
    # lag 0: one on-policy row: no gap, full ESS.
    assert m["mismatch/lag0/num_samples"].item() == 1
    assert m["mismatch/lag0/logprob_abs_diff_mean"].item() == 0.0 and m["mismatch/lag0/k3_kl"].item() == 0.0
    assert m["mismatch/lag0/ess_token"].item() == 1.0 and m["mismatch/lag0/ess_seq"].item() == 1.0
    # lag 1: tokens (2, 1, 0.5): gap (ln 2 + 0 + ln 2) / 3 = 0.462098; k3 = rho - ln rho - 1 per token:
    # (1 - ln 2) + 0 + (ln 2 - 0.5) = 0.5, mean 1/6; ESS 3.5^2 / (3 * 5.25) = 0.777778;
    # sequences (2, 0.5): 2.5^2 / (2 * 4.25) = 0.735294.
    assert m["mismatch/lag1/num_samples"].item() == 2
    assert math.isclose(m["mismatch/lag1/logprob_abs_diff_mean"].item(), 2 * ln2 / 3, rel_tol=1e-6)
    assert math.isclose(m["mismatch/lag1/k3_kl"].item(), 1 / 6, rel_tol=1e-5)
    assert math.isclose(m["mismatch/lag1/ess_token"].item(), 12.25 / 15.75, rel_tol=1e-6)
    assert math.isclose(m["mismatch/lag1/ess_seq"].item(), 6.25 / 8.5, rel_tol=1e-6)
    assert not any(k.startswith("mismatch/lag2/") for k in m)


def test_ess_does_not_overflow_on_huge_sequence_ratios():
    # Two sequences whose log-ratios sum to 2000 and 2000 - ln 2: ratios overflow, their ESS (1 and 0.5
    # relative weights) is 1.5^2 / (2 * 1.25) = 0.9.
    train = torch.zeros(2, 1000, dtype=torch.float64)
    rollout = torch.full((2, 1000), -2.0, dtype=torch.float64)
    rollout[1, 0] += math.log(2.0)
    m = logprob_mismatch_metrics(train, rollout, torch.ones(2, 1000, dtype=torch.bool))
    assert math.isclose(m["mismatch/ess_seq"].item(), 0.9, rel_tol=1e-5)
