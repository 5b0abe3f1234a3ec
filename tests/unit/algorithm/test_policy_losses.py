"""Policy losses against direct per-token formulas and hand-derived gradients (plain Python floats)."""

import math

import pytest
import torch

from megatron_mmupt.algorithm.config import PolicyLossConfig
from megatron_mmupt.algorithm.losses import POLICY_LOSSES

N, T = 4, 6


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(N, T, generator=g, dtype=torch.float64) * 3
    # Log-ratios spread over [-1.4, 1.4]: ratios from 0.25 to 4 hit every clip region (low, high, dual).
    logprobs = old + (torch.rand(N, T, generator=g, dtype=torch.float64) - 0.5) * 2.8
    advantages = torch.tensor([1.5, -0.8, 0.0, -2.0], dtype=torch.float64)
    mask = torch.ones(N, T, dtype=torch.bool)
    mask[1, 4:] = False
    mask[3, 1:] = False
    return logprobs, old, advantages, mask


def direct_ppo_token(lp: float, old: float, a: float, low: float, high: float, dual: float | None):
    """(loss, d loss / d lp, clipped_low, clipped_high, clipped_dual) of one token."""
    r = math.exp(lp - old)
    unclipped = -a * r
    clipped = -a * min(max(r, 1 - low), 1 + high)
    loss, grad = (unclipped, -a * r) if unclipped >= clipped else (clipped, 0.0)
    dual_hit = False
    if dual is not None and a < 0 and loss > -a * dual:
        loss, grad, dual_hit = -a * dual, 0.0, True
    return loss, grad, a < 0 and r < 1 - low, a > 0 and r > 1 + high, dual_hit


@pytest.mark.parametrize("clip_dual", [3.0, None])
def test_ppo_clip_values_gradients_and_flags(clip_dual):
    cfg = PolicyLossConfig(clip_low=0.2, clip_high=0.3, clip_dual=clip_dual)
    logprobs, old, adv, mask = _inputs()
    lp = logprobs.clone().requires_grad_()
    terms = POLICY_LOSSES.get("ppo_clip")(lp, old, adv, mask, cfg)
    terms.loss.sum().backward()
    for i in range(N):
        for t in range(T):
            loss, grad, low, high, dual = direct_ppo_token(
                logprobs[i, t].item(), old[i, t].item(), adv[i].item(), 0.2, 0.3, clip_dual
            )
            assert terms.loss[i, t].item() == pytest.approx(loss, rel=1e-12, abs=1e-12)
            assert lp.grad[i, t].item() == pytest.approx(grad, rel=1e-12, abs=1e-12)
            assert (terms.clipped_low[i, t].item(), terms.clipped_high[i, t].item()) == (low, high)
            assert terms.clipped_dual[i, t].item() == dual
            assert terms.ratio[i, t].item() == pytest.approx(math.exp(logprobs[i, t].item() - old[i, t].item()))


def test_inputs_exercise_every_clip_region():
    # Guards the test above: its data must hit every branch, or it would prove nothing.
    cfg = PolicyLossConfig()
    terms = POLICY_LOSSES.get("ppo_clip")(*_inputs(), cfg)
    assert terms.clipped_low.any() and terms.clipped_high.any() and terms.clipped_dual.any()
    unclipped = ~(terms.clipped_low | terms.clipped_high | terms.clipped_dual)
    assert unclipped.any()


def test_dual_clip_never_touches_positive_advantages():
    cfg = PolicyLossConfig(clip_dual=3.0)
    lp = torch.log(torch.tensor([[10.0, 0.01]]))  # ratios 10 and 0.01 against old = 0
    terms = POLICY_LOSSES.get("ppo_clip")(lp, torch.zeros(1, 2), torch.tensor([2.0]), torch.ones(1, 2, dtype=bool), cfg)
    # A > 0: ratio 10 is clipped to 1.3 (loss -2.6); ratio 0.01 is unclipped (loss -0.02); no dual clip.
    torch.testing.assert_close(terms.loss, torch.tensor([[-2.6, -0.02]]))
    assert not terms.clipped_dual.any()


def test_dual_clip_bounds_negative_advantage_loss():
    cfg = PolicyLossConfig(clip_dual=3.0)
    lp = torch.log(torch.tensor([[10.0, 2.0]]))
    terms = POLICY_LOSSES.get("ppo_clip")(
        lp, torch.zeros(1, 2), torch.tensor([-1.0]), torch.ones(1, 2, dtype=bool), cfg
    )
    # A < 0: unclipped loss = ratio; ratio 10 is bounded at c = 3, ratio 2 stays 2.
    torch.testing.assert_close(terms.loss, torch.tensor([[3.0, 2.0]]))
    assert terms.clipped_dual.tolist() == [[True, False]]


def test_huge_log_ratio_does_not_overflow():
    cfg = PolicyLossConfig(clip_dual=None)
    lp = torch.tensor([[500.0]], requires_grad=True)
    terms = POLICY_LOSSES.get("ppo_clip")(
        lp, torch.zeros(1, 1), torch.tensor([-1.0]), torch.ones(1, 1, dtype=bool), cfg
    )
    terms.loss.sum().backward()
    assert torch.isfinite(terms.loss).all() and torch.isfinite(lp.grad).all()
    assert terms.ratio.item() == pytest.approx(math.exp(20.0))


def direct_gspo(logprobs, old, adv, mask, low, high, dual):
    """Per-sequence loss and d loss / d lp_t for every token, from the GSPO formula."""
    losses, grads = [], []
    for i in range(N):
        toks = [t for t in range(T) if mask[i, t]]
        mean_log_ratio = sum(logprobs[i, t].item() - old[i, t].item() for t in toks) / max(len(toks), 1)
        s = math.exp(mean_log_ratio)
        a = adv[i].item()
        unclipped, clipped = -a * s, -a * min(max(s, 1 - low), 1 + high)
        loss, dloss_ds = (unclipped, -a) if unclipped >= clipped else (clipped, 0.0)
        if dual is not None and a < 0 and loss > -a * dual:
            loss, dloss_ds = -a * dual, 0.0
        losses.append(loss)
        grads.append([dloss_ds * s / len(toks) if mask[i, t] else 0.0 for t in range(T)])
    return losses, grads


@pytest.mark.parametrize("clip", [(0.2, 0.3, 3.0), (3e-4, 4e-4, None)])
def test_gspo_sequence_ratio_values_and_gradients(clip):
    low, high, dual = clip
    cfg = PolicyLossConfig(name="gspo", clip_low=low, clip_high=high, seq_clip_dual=dual)
    logprobs, old, adv, mask = _inputs(seed=1)
    logprobs = old + (logprobs - old) * 0.3  # keep some sequence ratios inside the PPO clip range
    lp = logprobs.clone().requires_grad_()
    terms = POLICY_LOSSES.get("gspo")(lp, old, adv, mask, cfg)
    # Per-sequence mean of the broadcast loss = sequence loss (what seq-mean-token-mean aggregation takes).
    (terms.loss * mask).sum(-1).div(mask.sum(-1)).sum().backward()
    losses, grads = direct_gspo(logprobs, old, adv, mask, low, high, dual)
    for i in range(N):
        assert torch.allclose(terms.loss[i], torch.tensor(losses[i], dtype=torch.float64))
        torch.testing.assert_close(lp.grad[i], torch.tensor(grads[i], dtype=torch.float64))


def test_gspo_fully_masked_sequence_has_unit_ratio():
    cfg = PolicyLossConfig(name="gspo")
    mask = torch.tensor([[False, False], [True, True]])
    lp = torch.tensor([[5.0, -5.0], [-1.0, -2.0]])
    terms = POLICY_LOSSES.get("gspo")(lp, torch.zeros(2, 2) - 1.0, torch.tensor([1.0, 1.0]), mask, cfg)
    assert terms.ratio[0].tolist() == [1.0, 1.0]
    assert torch.isfinite(terms.loss).all()


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("ppo_clip", {}, 3.0),  # the reference's dual clip: min(-A r, -c A) = min(4, 3)
        ("gspo", {}, 4.0),  # GSPO: no dual clip by default, as in the paper and verl
        ("gspo", {"clip_dual": 3.0}, 4.0),  # a recipe's PPO dual clip does not follow an override to gspo
        ("gspo", {"seq_clip_dual": 3.0}, 3.0),  # opt-in
    ],
)
def test_gspo_dual_clip_is_opt_in(name, overrides, expected):
    # Two tokens, each at log-ratio ln 4: r_t = s = 4; A = -1; clip(4, 0.8, 1.3) = 1.3, so by hand
    # max(-A r, -A clip(r)) = max(4, 1.3) = 4, and the dual clip bounds it at -c A = 3.
    cfg = PolicyLossConfig(name=name, **overrides)
    lp = torch.full((1, 2), math.log(4.0), dtype=torch.float64)
    terms = POLICY_LOSSES.get(name)(
        lp,
        torch.zeros(1, 2, dtype=torch.float64),
        torch.tensor([-1.0], dtype=torch.float64),
        torch.ones(1, 2, dtype=torch.bool),
        cfg,
    )
    torch.testing.assert_close(terms.loss, torch.full((1, 2), expected, dtype=torch.float64))
    assert terms.clipped_dual.all() == (expected == 3.0)
