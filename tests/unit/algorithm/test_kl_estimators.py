"""KL estimators k1/k2/k3 against Schulman's formulas and hand-derived gradients."""

import math

import pytest
import torch

from megatron_mmupt.algorithm.kl import KL_ESTIMATORS
from megatron_mmupt.utils.registry import UnknownEntryError

LOGPROBS = [-0.1, -2.0, -0.7, -5.0, -0.01]
REF = [-0.3, -1.5, -0.7, -0.2, -3.0]


def direct(name: str, lp: float, ref: float) -> tuple[float, float]:
    """(value, d value / d lp) with log r = ref - lp."""
    log_r = ref - lp
    if name == "k1":
        return -log_r, 1.0
    if name == "k2":
        return 0.5 * log_r**2, -log_r
    value = math.exp(log_r) - log_r - 1.0
    grad = -math.exp(log_r) + 1.0
    if abs(value) > 10.0:  # the reference clamp: constant, no gradient
        return math.copysign(10.0, value), 0.0
    return value, grad


@pytest.mark.parametrize("name", ["k1", "k2", "k3"])
def test_estimator_values_and_gradients(name):
    lp = torch.tensor(LOGPROBS, dtype=torch.float64).view(1, -1).requires_grad_()
    ref = torch.tensor(REF, dtype=torch.float64).view(1, -1)
    kl = KL_ESTIMATORS.get(name)(lp, ref)
    kl.sum().backward()
    for t, (a, b) in enumerate(zip(LOGPROBS, REF, strict=True)):
        value, grad = direct(name, a, b)
        assert kl[0, t].item() == pytest.approx(value, rel=1e-12)
        assert lp.grad[0, t].item() == pytest.approx(grad, rel=1e-12, abs=1e-15)


def test_k3_is_clamped_at_ten_like_the_reference():
    # log r = 4.8 -> exp(4.8) - 4.8 - 1 = 115.7, clamped to 10 (token 3 of the data above).
    kl = KL_ESTIMATORS.get("k3")(torch.tensor([[-5.0]]), torch.tensor([[-0.2]]))
    assert kl.item() == 10.0


def test_k3_extreme_log_ratio_is_finite():
    lp = torch.tensor([[-200.0, 0.0]], requires_grad=True)
    kl = KL_ESTIMATORS.get("k3")(lp, torch.tensor([[0.0, -200.0]]))
    kl.sum().backward()
    assert torch.isfinite(kl).all() and torch.isfinite(lp.grad).all()
    assert kl[0, 0].item() == 10.0


@pytest.mark.parametrize("name", ["k2", "k3"])
def test_nonnegative_and_zero_at_equality(name):
    lp = torch.tensor([[-1.0, -0.5, -3.0]])
    assert torch.equal(KL_ESTIMATORS.get(name)(lp, lp), torch.zeros(1, 3))
    assert (KL_ESTIMATORS.get(name)(lp, lp.flip(-1)) >= 0).all()


def test_k3_estimates_kl_in_expectation():
    # E_{x~p}[k3] = KL(p||q) exactly: check on an explicit 4-token distribution.
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
    k3 = KL_ESTIMATORS.get("k3")(p.log().view(1, -1), q.log().view(1, -1))
    exact = sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist(), strict=True))
    assert (p * k3[0]).sum().item() == pytest.approx(exact, rel=1e-12)


def test_unknown_kl_lists_valid_names():
    with pytest.raises(UnknownEntryError, match=r"valid names: .*k1.*k2.*k3"):
        KL_ESTIMATORS.get("low_var")
