"""Importance weightings (TIS, AReaL's decoupled weight, Seq-MIS veto) and the decoupled PPO objective, by hand."""

import dataclasses
import math

import pytest
import torch

from megatron_mmupt.algorithm.config import AlgorithmConfig, KLConfig, OffPolicyConfig
from megatron_mmupt.algorithm.importance import IMPORTANCE_WEIGHTINGS
from megatron_mmupt.algorithm.objective import policy_objective
from megatron_mmupt.algorithm.types import TrainBatch
from megatron_mmupt.testing.train_batches import one_sequence

LN = math.log
# Proximal log-probs 0; behaviour log-probs chosen so that rho = pi_prox / pi_behav is (1.5, 0.5) on row 0 and
# 4 on row 1 (its second position is padding and holds garbage).
PROXIMAL = torch.zeros(2, 2, dtype=torch.float64)
BEHAVIOUR = torch.tensor([[-LN(1.5), LN(2.0)], [-LN(4.0), 123.0]], dtype=torch.float64)
MASK = torch.tensor([[True, True], [True, False]])


def _weights(name: str, cap: float = 2.0):
    cfg = OffPolicyConfig(weighting=name, cap=cap)
    return IMPORTANCE_WEIGHTINGS.get(name)(PROXIMAL, BEHAVIOUR, MASK, cfg)


def _masked(values: torch.Tensor) -> list[float]:
    return values[MASK].tolist()


def test_tis_truncates_token_ratios_at_the_cap():
    # min(rho, 2) on (1.5, 0.5, 4) = (1.5, 0.5, 2)
    w = _weights("tis")
    assert _masked(w.weights) == pytest.approx([1.5, 0.5, 2.0])
    assert _masked(w.truncated) == [False, False, True] and not w.vetoed.any()


def test_decoupled_weight_is_the_ratio_vetoed_above_the_cap():
    # AReaL: rho where rho <= 2, else 0: (1.5, 0.5, 0)
    w = _weights("decoupled")
    assert _masked(w.weights) == pytest.approx([1.5, 0.5, 0.0])
    assert _masked(w.vetoed) == [False, False, True] and not w.truncated.any()


def test_seq_mis_vetoes_whole_sequences_beyond_the_threshold():
    # Row 0: rho = 1.5 * 0.5 = 0.75 <= 2, both tokens weigh 0.75. Row 1: rho = 4 > 2 (padding ignored): 0.
    w = _weights("seq_mis")
    assert _masked(w.weights) == pytest.approx([0.75, 0.75, 0.0])
    assert _masked(w.vetoed) == [False, False, True]
    # With a threshold of 5 row 1 is kept, at its own ratio 4.
    assert _masked(_weights("seq_mis", cap=5.0).weights) == pytest.approx([0.75, 0.75, 4.0])


def test_seq_mis_long_sequences_do_not_overflow():
    n = 2000  # sum of log-ratios 1000 (vetoed) and -1000 (weight exp(-1000) = 0)
    prox = torch.zeros(2, n, dtype=torch.float64)
    behav = torch.stack([torch.full((n,), -0.5), torch.full((n,), 0.5)]).double()
    cfg = OffPolicyConfig(weighting="seq_mis")
    w = IMPORTANCE_WEIGHTINGS.get("seq_mis")(prox, behav, torch.ones(2, n, dtype=torch.bool), cfg)
    assert torch.isfinite(w.weights).all() and (w.weights == 0).all()
    assert w.vetoed[0].all() and not w.vetoed[1].any()


def _one_sequence_batch() -> TrainBatch:
    return one_sequence([0.0, 0.0, 0.0], [-LN(1.5), LN(2.0), -LN(4.0)])  # proximal, behaviour


def test_decoupled_ppo_objective_by_hand():
    # AReaL's decoupled PPO: behaviour weights w = (1.5, 0.5, 0) (rho 4 > cap 2 is vetoed); the PPO ratio against
    # the proximal policy is u = 1.1 on every token (inside [0.8, 1.3]), A = 1, so each token's loss is -1.1.
    # token-mean: L = sum_t w_t (-1.1) / 3 = -2.2 / 3; dL/dlogp_t = -w_t * 1.1 / 3 = (-0.55, -0.18333, 0).
    lp = torch.full((1, 3), LN(1.1), dtype=torch.float64, requires_grad=True)
    cfg = AlgorithmConfig(off_policy=OffPolicyConfig(weighting="decoupled", cap=2.0), kl=KLConfig(coef=0.0))
    loss, metrics = policy_objective(lp, _one_sequence_batch(), cfg)
    loss.backward()
    assert loss.item() == pytest.approx(-2.2 / 3)
    torch.testing.assert_close(lp.grad, torch.tensor([[-0.55, -0.55 / 3, 0.0]], dtype=torch.float64))
    assert metrics["off_policy/weight_mean"].item() == pytest.approx(2 / 3)
    assert metrics["off_policy/vetoed_frac"].item() == pytest.approx(1 / 3)
    assert metrics["off_policy/truncated_frac"].item() == 0.0
    # ESS of the weights used, (sum w)^2 / (n sum w^2) = 2^2 / (3 * 2.5) = 0.53333
    assert metrics["off_policy/ess"].item() == pytest.approx(4 / 7.5)


def test_without_weighting_the_behaviour_logprobs_are_ignored():
    lp = torch.full((1, 3), LN(1.1), dtype=torch.float64)
    batch = _one_sequence_batch()
    cfg = AlgorithmConfig(kl=KLConfig(coef=0.0))
    loss, metrics = policy_objective(lp, batch, cfg)
    assert loss.item() == pytest.approx(-1.1)  # plain PPO: mean of -A u
    assert not any(k.startswith("off_policy/") for k in metrics)
    same, _ = policy_objective(lp, dataclasses.replace(batch, rollout_logprobs=None), cfg)
    assert same.item() == loss.item()


def test_train_batch_version_lag_is_optional_and_checked():
    batch = _one_sequence_batch()
    assert batch.version_lag is None  # 0 for every row
    lagged = dataclasses.replace(batch, version_lag=torch.tensor([2]))
    assert lagged.select(torch.tensor([0])).version_lag.tolist() == [2]
    with pytest.raises(ValueError, match=r"version_lag must have shape \(1,\)"):
        dataclasses.replace(batch, version_lag=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="version_lag must be an integer tensor"):
        dataclasses.replace(batch, version_lag=torch.tensor([0.5]))
