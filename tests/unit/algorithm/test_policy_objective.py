"""The composed objective: direct formula, micro-batch identity, on-policy case, TIS, NaN handling, metrics."""

import dataclasses
import math

import pytest
import torch

from megatron_mmupt.algorithm.config import AlgorithmConfig, EntropyConfig, KLConfig, OffPolicyConfig, PolicyLossConfig
from megatron_mmupt.algorithm.objective import policy_objective
from megatron_mmupt.algorithm.types import LossNormalizer, TrainBatch
from megatron_mmupt.testing.train_batches import one_sequence

N, T = 6, 5
MODES = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"]


def _batch(seed: int = 0, with_rollout: bool = False) -> tuple[torch.Tensor, TrainBatch, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(N, T, generator=g, dtype=torch.float64) * 2
    logprobs = old + (torch.rand(N, T, generator=g, dtype=torch.float64) - 0.5)
    mask = torch.rand(N, T, generator=g) > 0.25
    mask[0] = True
    mask[3] = False  # fully masked sequence
    batch = TrainBatch(
        sample_ids=torch.arange(N),
        group_ids=torch.tensor([0, 0, 0, 1, 1, 1]),
        rewards=torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0]),
        advantages=torch.tensor([0.6, -1.2, 0.6, -1.1, 0.5, 0.6], dtype=torch.float64),
        response_mask=mask,
        truncated=torch.zeros(N, dtype=torch.bool),
        old_logprobs=old,
        ref_logprobs=old + (torch.rand(N, T, generator=g, dtype=torch.float64) - 0.5) * 0.4,
        rollout_logprobs=old + (torch.rand(N, T, generator=g, dtype=torch.float64) - 0.5) * 0.6
        if with_rollout
        else None,
    )
    entropy = torch.rand(N, T, generator=g, dtype=torch.float64) * 3
    return logprobs, batch, entropy


def _direct_token_mean(logprobs, batch, entropy, cfg: AlgorithmConfig) -> float:
    """GRPO objective with token-mean aggregation, PPO clip, k3 and entropy, written out token by token."""
    pc = cfg.policy_loss
    total, count = 0.0, 0
    for i in range(N):
        a = batch.advantages[i].item()
        for t in range(T):
            if not batch.response_mask[i, t]:
                continue
            lp, old, ref = (x[i, t].item() for x in (logprobs, batch.old_logprobs, batch.ref_logprobs))
            r = math.exp(lp - old)
            pg = max(-a * r, -a * min(max(r, 1 - pc.clip_low), 1 + pc.clip_high))
            if a < 0:
                pg = min(pg, -a * pc.clip_dual)
            if cfg.off_policy.weighting == "tis":
                pg *= min(math.exp(old - batch.rollout_logprobs[i, t].item()), cfg.off_policy.cap)
            log_r = ref - lp
            k3 = min(max(math.exp(log_r) - log_r - 1, -10.0), 10.0)
            total += pg + cfg.kl.coef * k3 - cfg.entropy.coef * entropy[i, t].item()
            count += 1
    return total / count


@pytest.mark.parametrize("tis_cap", [None, 1.1])
def test_default_objective_matches_direct_formula(tis_cap):
    logprobs, batch, entropy = _batch(with_rollout=True)
    off_policy = OffPolicyConfig() if tis_cap is None else OffPolicyConfig(weighting="tis", cap=tis_cap)
    cfg = AlgorithmConfig(off_policy=off_policy, kl=KLConfig(coef=0.05), entropy=EntropyConfig(coef=0.02))
    loss, metrics = policy_objective(logprobs, batch, cfg, entropy=entropy)
    assert loss.item() == pytest.approx(_direct_token_mean(logprobs, batch, entropy, cfg), rel=1e-12)
    assert metrics["loss/total"].item() == loss.item()
    if tis_cap is not None:
        assert 0 < metrics["off_policy/truncated_frac"].item() < 1  # the cap is active on some tokens, not all


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss_name", ["ppo_clip", "gspo"])
@pytest.mark.parametrize("weighting", ["tis", "decoupled", "seq_mis"])
def test_micro_batches_sum_to_full_batch(mode, loss_name, weighting):
    logprobs, batch, entropy = _batch(seed=3, with_rollout=True)
    cfg = AlgorithmConfig(
        policy_loss=PolicyLossConfig(name=loss_name),
        off_policy=OffPolicyConfig(weighting=weighting, cap=2.0),
        entropy=EntropyConfig(coef=0.01),
        loss_aggregation=mode,
    )
    normalizer = LossNormalizer.from_mask(batch.response_mask)
    lp_full, ent_full = logprobs.clone().requires_grad_(), entropy.clone().requires_grad_()
    full, _ = policy_objective(lp_full, batch, cfg, normalizer=normalizer, entropy=ent_full)
    full.backward()

    lp_micro, ent_micro = logprobs.clone().requires_grad_(), entropy.clone().requires_grad_()
    total = torch.zeros((), dtype=torch.float64)
    for rows in (torch.arange(0, 2), torch.arange(2, 5), torch.arange(5, 6)):
        part, _ = policy_objective(
            lp_micro[rows], batch.select(rows), cfg, normalizer=normalizer, entropy=ent_micro[rows]
        )
        part.backward()
        total += part.detach()
    torch.testing.assert_close(total, full.detach())
    torch.testing.assert_close(lp_micro.grad, lp_full.grad)
    torch.testing.assert_close(ent_micro.grad, ent_full.grad)
    assert lp_full.grad.abs().sum() > 0


def test_on_policy_without_old_logprobs_gives_plain_policy_gradient():
    logprobs, batch, _ = _batch()
    batch = dataclasses.replace(batch, old_logprobs=None)
    cfg = AlgorithmConfig(kl=KLConfig(coef=0.0))
    lp = logprobs.clone().requires_grad_()
    loss, metrics = policy_objective(lp, batch, cfg)
    loss.backward()
    num_tokens = batch.response_mask.sum().item()
    expected = torch.where(batch.response_mask, -batch.advantages[:, None] / num_tokens, 0.0)
    torch.testing.assert_close(lp.grad, expected)
    assert loss.item() == pytest.approx(
        -sum(batch.advantages[i].item() * batch.response_mask[i].sum().item() for i in range(N)) / num_tokens
    )
    assert metrics["policy/ratio_mean"].item() == 1.0


def test_fully_masked_sequence_changes_nothing():
    logprobs, batch, _ = _batch()
    cfg = AlgorithmConfig(loss_aggregation="seq-mean-token-mean")
    keep = torch.tensor([0, 1, 2, 4, 5])  # row 3 is fully masked
    with_row, _ = policy_objective(logprobs, batch, cfg)
    without_row, _ = policy_objective(logprobs[keep], batch.select(keep), cfg)
    torch.testing.assert_close(with_row, without_row)


def test_all_tokens_masked_gives_zero_loss_and_metrics():
    logprobs, batch, entropy = _batch()
    batch = dataclasses.replace(batch, response_mask=torch.zeros(N, T, dtype=torch.bool))
    lp = logprobs.clone().requires_grad_()
    loss, metrics = policy_objective(lp, batch, AlgorithmConfig(), entropy=entropy)
    loss.backward()
    assert loss.item() == 0.0 and (lp.grad == 0).all()
    assert all(torch.isfinite(v).all() for v in metrics.values())


def test_nonfinite_logprobs_raise_by_default():
    logprobs, batch, _ = _batch()
    logprobs[0, 1] = float("nan")
    with pytest.raises(FloatingPointError, match=r"1 non-finite value\(s\) .* in logprobs"):
        policy_objective(logprobs, batch, AlgorithmConfig())


def test_nonfinite_in_padding_is_ignored_and_gradients_stay_finite():
    logprobs, batch, _ = _batch()
    pad = ~batch.response_mask
    logprobs = logprobs.masked_fill(pad, float("nan"))
    poisoned_ref = batch.ref_logprobs.masked_fill(pad, float("inf"))
    batch = dataclasses.replace(batch, ref_logprobs=poisoned_ref)
    lp = logprobs.clone().requires_grad_()
    loss, metrics = policy_objective(lp, batch, AlgorithmConfig())
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(lp.grad).all()
    assert metrics["nonfinite/logprobs"].item() == 0


@pytest.mark.parametrize("field", ["logprobs", "old_logprobs", "ref_logprobs"])
def test_drop_policy_masks_and_counts_nonfinite_tokens(field):
    logprobs, batch, _ = _batch()
    cfg = AlgorithmConfig(on_nonfinite="drop")
    clean_loss, _ = policy_objective(logprobs, batch, cfg)
    if field == "logprobs":
        logprobs = logprobs.clone()
        logprobs[0, 2] = float("-inf")
    else:
        poisoned = getattr(batch, field).clone()
        poisoned[0, 2] = float("nan")
        batch = dataclasses.replace(batch, **{field: poisoned})
    lp = logprobs.clone().requires_grad_()
    loss, metrics = policy_objective(lp, batch, cfg)
    loss.backward()
    assert metrics[f"nonfinite/{field}"].item() == 1
    assert torch.isfinite(loss) and torch.isfinite(lp.grad).all()
    assert lp.grad[0, 2].item() == 0.0
    assert metrics["num_tokens"].item() == batch.response_mask.sum().item() - 1
    assert loss.item() != clean_loss.item()


def test_missing_inputs_fail_clearly():
    logprobs, batch, _ = _batch()
    with pytest.raises(ValueError, match=r"kl\.coef > 0 needs batch\.ref_logprobs"):
        policy_objective(logprobs, dataclasses.replace(batch, ref_logprobs=None), AlgorithmConfig())
    with pytest.raises(ValueError, match=r"off_policy\.weighting=tis needs batch\.rollout_logprobs"):
        policy_objective(logprobs, batch, AlgorithmConfig(off_policy=OffPolicyConfig(weighting="tis")))
    with pytest.raises(ValueError, match=r"entropy\.coef > 0 needs the per-token entropy"):
        policy_objective(logprobs, batch, AlgorithmConfig(entropy=EntropyConfig(coef=0.1)))
    with pytest.raises(ValueError, match="logprobs has shape"):
        policy_objective(logprobs[:, :2], batch, AlgorithmConfig())


def test_kl_is_skipped_when_coef_is_zero():
    logprobs, batch, _ = _batch()
    loss, metrics = policy_objective(
        logprobs, dataclasses.replace(batch, ref_logprobs=None), AlgorithmConfig(kl=KLConfig(coef=0.0))
    )
    assert "kl/loss" not in metrics and torch.isfinite(loss)


def test_metrics_match_direct_counts():
    logprobs, batch, entropy = _batch()
    _, metrics = policy_objective(logprobs, batch, AlgorithmConfig(), entropy=entropy)
    mask = batch.response_mask
    ratios = [
        math.exp(logprobs[i, t].item() - batch.old_logprobs[i, t].item())
        for i in range(N)
        for t in range(T)
        if mask[i, t]
    ]
    advs = [batch.advantages[i].item() for i in range(N) for t in range(T) if mask[i, t]]
    low = sum(a < 0 and r < 0.8 for r, a in zip(ratios, advs, strict=True)) / len(ratios)
    high = sum(a > 0 and r > 1.3 for r, a in zip(ratios, advs, strict=True)) / len(ratios)
    assert metrics["policy/clip_frac_low"].item() == pytest.approx(low)
    assert metrics["policy/clip_frac_high"].item() == pytest.approx(high)
    assert metrics["policy/ratio_mean"].item() == pytest.approx(sum(ratios) / len(ratios))
    assert metrics["policy/ratio_max"].item() == pytest.approx(max(ratios))
    approx_kl = sum(r - math.log(r) - 1 for r in ratios) / len(ratios)  # k3 of KL(pi_old || pi_theta)
    assert metrics["policy/approx_kl"].item() == pytest.approx(approx_kl)
    ent = [entropy[i, t].item() for i in range(N) for t in range(T) if mask[i, t]]
    assert metrics["entropy/mean"].item() == pytest.approx(sum(ent) / len(ent))
    assert metrics["num_tokens"].item() == len(ratios)
    trained = [batch.advantages[i].item() for i in range(N) if mask[i].any()]  # row 3 has no token
    mean = sum(trained) / len(trained)
    assert metrics["policy/advantage_mean"].item() == pytest.approx(mean)
    assert metrics["policy/advantage_std"].item() == pytest.approx(
        math.sqrt(sum((a - mean) ** 2 for a in trained) / len(trained))
    )
    assert metrics["policy/advantage_min"].item() == pytest.approx(min(trained))
    assert metrics["policy/advantage_max"].item() == pytest.approx(max(trained))
    assert all(not v.requires_grad for v in metrics.values())


def test_gspo_with_tis_weights_each_tokens_own_term():
    # One sequence of two tokens, logp = old = 0 (s = 1, inside the clip), A = 1, rollout log-probs (-ln 2, ln 2):
    # TIS weights w = (2, 0.5) under cap 3. seq-mean-token-mean, by hand: L = (w_1 (-s) + w_2 (-s)) / 2 = -1.25 and
    # dL/dlogp_t = -w_t s / 2 = (-1.0, -0.25). A broadcast sequence loss gave both tokens the mean weight:
    # -(w_1 + w_2) / 2 * ds/dlogp_t = -1.25 * 1/2 = -0.625 each.
    lp = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    batch = one_sequence([0.0, 0.0], [-math.log(2.0), math.log(2.0)])
    cfg = AlgorithmConfig(
        policy_loss=PolicyLossConfig(name="gspo"),
        off_policy=OffPolicyConfig(weighting="tis", cap=3.0),
        kl=KLConfig(coef=0.0),
        loss_aggregation="seq-mean-token-mean",
    )
    loss, _ = policy_objective(lp, batch, cfg)
    loss.backward()
    assert loss.item() == pytest.approx(-1.25)
    torch.testing.assert_close(lp.grad, torch.tensor([[-1.0, -0.25]], dtype=torch.float64))


def test_approx_kl_is_k3_and_ppo_kl_is_verls_k1():
    # Two tokens with logp - old = (ln 2, 0), r = (2, 1). By hand: k3 = mean(r - ln r - 1) = (1 - ln 2) / 2
    # = 0.153426; verl's k1 ppo_kl = mean(old - logp) = -ln 2 / 2 = -0.346574.
    batch = one_sequence([0.0, 0.0])
    logprobs = torch.tensor([[math.log(2.0), 0.0]], dtype=torch.float64)
    _, metrics = policy_objective(logprobs, batch, AlgorithmConfig(kl=KLConfig(coef=0.0)))
    assert metrics["policy/approx_kl"].item() == pytest.approx(0.1534264097, rel=1e-9)
    assert metrics["policy/ppo_kl"].item() == pytest.approx(-0.3465735903, rel=1e-9)
