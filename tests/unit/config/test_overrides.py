import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides, coerce, parse_override
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.config.serialization import config_from_dict, read_config, write_config


def test_dotted_overrides_are_typed_and_revalidated():
    config = apply_overrides(
        RunConfig(),
        [
            "reward.mode=vote_share",
            "--reward.vote.min_vote_share=0.5",
            "reward.extraction.sources=boxed,answer_is",
            "reward.format.require_think=yes",
            "algorithm.kl.coef=0",
            "algorithm.policy_loss.clip_dual=none",
            "seed=7",
        ],
    )
    assert config.reward.mode == "vote_share"
    assert config.reward.vote.min_vote_share == 0.5
    assert config.reward.extraction.sources == ("boxed", "answer_is")
    assert config.reward.format.require_think is True
    assert config.algorithm.kl.coef == 0.0 and config.algorithm.policy_loss.clip_dual is None
    assert config.seed == 7
    assert RunConfig().reward.mode == "majority"  # the input is not modified


def test_unknown_key_names_the_nearest_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key 'reward\.mdoe'; did you mean: reward\.mode"):
        apply_overrides(RunConfig(), ["reward.mdoe=vote_share"])
    with pytest.raises(ConfigError, match=r"reward.vote.min_vote_share"):
        apply_overrides(RunConfig(), ["reward.vote.min_share=0.5"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("reward.mode=best", "mode='best' is not valid; choose one of: majority"),
        ("reward.vote.min_vote_share=lots", "expects float"),
        ("reward.vote.min_vote_share=1.5", "out of range"),
        ("reward.vote.tie_break=random", "first_seen, skip"),
        ("reward.format.require_think=maybe", "boolean"),
        ("seed=1.5", "expects int"),
        ("reward=majority", "is a section"),
        ("reward.mode.x=1", "is a value, not a section"),
        ("reward.equivalence.symbolic.backend=gpu", "process, inline, off"),
    ],
)
def test_bad_values_fail_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RunConfig(), [override])


def test_override_syntax():
    assert parse_override("--a.b=c=d") == ("a.b", "c=d")
    with pytest.raises(ConfigError, match=r"key=value"):
        parse_override("reward.mode")


def test_coerce_edge_cases():
    assert coerce("3", float, "k") == 3.0
    assert coerce(2, float, "k") == 2.0
    assert coerce("[1, 2]", tuple[int, ...], "k") == (1, 2)
    assert coerce("", tuple[str, ...], "k") == ()
    with pytest.raises(ConfigError):
        coerce(True, int, "k")


def test_round_trip_through_the_run_directory(tmp_path):
    config = apply_overrides(RunConfig(), ["reward.mode=vote_share", "algorithm.kl.estimator=k2"])
    path = write_config(config, tmp_path)
    assert path == tmp_path / "config.json"
    assert read_config(RunConfig, tmp_path) == config
    assert config_from_dict(RunConfig, {"reward": {"mode": "supervised"}}).reward.mode == "supervised"


def test_reading_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match=r"no config file"):
        read_config(RunConfig, tmp_path)
    (tmp_path / "config.json").write_text('{"reward": {"mode": ')
    with pytest.raises(ConfigError, match=r"not valid JSON"):
        read_config(RunConfig, tmp_path)
    with pytest.raises(ConfigError, match=r"reward.mdoe"):
        config_from_dict(RunConfig, {"reward": {"mdoe": "x"}})


def test_inert_options_warn():
    config = apply_overrides(RunConfig(), ["reward.mode=reference", "reward.vote.min_vote_share=0.5"])
    with pytest.warns(UserWarning, match=r"min_vote_share has no effect"):
        config.validate()
