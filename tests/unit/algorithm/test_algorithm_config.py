"""AlgorithmConfig: reference defaults, validation naming keys and allowed values, overrides, JSON round trip."""

import pytest

from megatron_mmupt.algorithm.config import (
    AdvantageConfig,
    AlgorithmConfig,
    FilterConfig,
    KLConfig,
    OffPolicyConfig,
    PolicyLossConfig,
)
from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.config.serialization import config_from_dict


def test_defaults_are_the_mm_upt_reference_recipe():
    cfg = AlgorithmConfig()
    assert cfg.to_dict() == {
        "advantage": {"estimator": "grpo", "eps": 1e-6},
        "policy_loss": {
            "name": "ppo_clip",
            "clip_low": 0.2,
            "clip_high": 0.3,
            "clip_dual": 3.0,
            "seq_clip_dual": None,
        },
        "off_policy": {"weighting": None, "cap": 2.0},
        "kl": {"estimator": "k3", "coef": 0.01},
        "entropy": {"coef": 0.0},
        "loss_aggregation": "token-mean",
        "filters": {"zero_advantage_groups": "keep", "overlong": "keep"},
        "on_nonfinite": "raise",
    }


@pytest.mark.parametrize(
    ("build", "message", "valid"),
    [
        (lambda: AdvantageConfig(estimator="grpoo"), "estimator='grpoo' is not valid", ["grpo", "dr_grpo", "rloo"]),
        (lambda: PolicyLossConfig(name="ppo"), "name='ppo' is not valid", ["ppo_clip", "gspo"]),
        (lambda: OffPolicyConfig(weighting="mis"), "weighting='mis' is not valid", ["tis", "decoupled", "seq_mis"]),
        (lambda: KLConfig(estimator="low_var_kl"), "estimator='low_var_kl' is not valid", ["k1", "k2", "k3"]),
        (
            lambda: AlgorithmConfig(loss_aggregation="token_mean"),
            "loss_aggregation='token_mean' is not valid",
            ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"],
        ),
        (lambda: FilterConfig(overlong="drop"), "overlong='drop' is not valid", ["keep", "mask"]),
        (lambda: AlgorithmConfig(on_nonfinite="ignore"), "on_nonfinite='ignore' is not valid", ["raise", "drop"]),
    ],
)
def test_unknown_names_fail_listing_valid_ones(build, message, valid):
    with pytest.raises(ConfigError, match=message) as err:
        build()
    for name in valid:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PolicyLossConfig(clip_low=1.0), "clip_low=1.0 must be < 1"),
        (lambda: PolicyLossConfig(clip_low=-0.1), "clip_low=-0.1 is out of range"),
        (lambda: PolicyLossConfig(clip_high=-0.1), "clip_high=-0.1 is out of range"),
        (lambda: PolicyLossConfig(clip_dual=1.0), "clip_dual=1.0 must be > 1"),
        (lambda: PolicyLossConfig(name="gspo", seq_clip_dual=0.5), "seq_clip_dual=0.5 must be > 1"),
        (lambda: OffPolicyConfig(cap=0.5), "cap=0.5 is out of range"),
        (lambda: KLConfig(coef=-0.01), "coef=-0.01 is out of range"),
        (lambda: AdvantageConfig(eps=-1.0), "eps=-1.0 is out of range"),
    ],
)
def test_out_of_range_values_fail(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_overrides_coerce_by_annotation():
    cfg = apply_overrides(
        AlgorithmConfig(),
        [
            "policy_loss.clip_high=0.28",
            "policy_loss.clip_dual=none",
            "off_policy.weighting=decoupled",
            "off_policy.cap=5",
            "advantage.estimator=rloo",
            "filters.zero_advantage_groups=drop",
            "on_nonfinite=drop",
        ],
    )
    assert cfg.policy_loss.clip_high == 0.28
    assert cfg.policy_loss.clip_dual is None
    assert cfg.off_policy.weighting == "decoupled"
    assert cfg.off_policy.cap == 5.0 and isinstance(cfg.off_policy.cap, float)
    assert cfg.advantage.estimator == "rloo"
    assert cfg.filters.zero_advantage_groups == "drop"
    assert cfg.on_nonfinite == "drop"


def test_override_with_bad_registry_name_names_the_key():
    with pytest.raises(ConfigError, match=r"advantage\.estimator: estimator='grpoo' is not valid; choose one of: "):
        apply_overrides(AlgorithmConfig(), ["advantage.estimator=grpoo"])
    with pytest.raises(ConfigError, match=r"filters\.overlong='cut' is not valid; choose one of: keep, mask"):
        apply_overrides(AlgorithmConfig(), ["filters.overlong=cut"])


def test_json_round_trip():
    cfg = apply_overrides(AlgorithmConfig(), ["policy_loss.name=gspo", "kl.coef=0", "policy_loss.clip_dual=none"])
    assert config_from_dict(AlgorithmConfig, cfg.to_dict()) == cfg


def test_seq_clip_dual_with_a_token_level_loss_warns_it_is_inert():
    with pytest.warns(UserWarning, match=r"seq_clip_dual=3.0 has no effect with name='ppo_clip'; it applies to gspo"):
        PolicyLossConfig(seq_clip_dual=3.0)


def test_importance_weighting_without_recomputed_old_logprobs_warns_it_is_inert():
    config = apply_overrides(RunConfig(), ["algorithm.off_policy.weighting=decoupled", "trainer.old_logprobs=rollout"])
    with pytest.warns(UserWarning, match=r"off_policy\.weighting=decoupled has no effect with trainer\.old_logprobs="):
        config.validate()
