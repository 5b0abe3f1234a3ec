import pytest

from megatron_mmupt.data.sampler import EpochSampler, SamplerConfig


def test_each_epoch_is_a_seeded_permutation():
    sampler = EpochSampler(50, SamplerConfig(seed=3))
    first, second = sampler.epoch_order(0), sampler.epoch_order(1)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second
    assert first == EpochSampler(50, SamplerConfig(seed=3)).epoch_order(0)
    assert first != EpochSampler(50, SamplerConfig(seed=4)).epoch_order(0)
    assert EpochSampler(5, SamplerConfig(shuffle=False)).epoch_order(7) == [0, 1, 2, 3, 4]


def test_state_round_trip_resumes_the_order():
    sampler = EpochSampler(20, SamplerConfig(seed=1))
    sampler.next_epoch()
    sampler.advance(7)
    state = sampler.state_dict()
    restored = EpochSampler(20, SamplerConfig(seed=1))
    restored.load_state_dict(state)
    assert restored.remaining() == sampler.remaining() == sampler.epoch_order(1)[7:]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"epoch": 0, "position": 0, "num_rows": 21, "seed": 1}, "21 rows, this one has 20"),
        ({"epoch": 0, "position": 0, "num_rows": 20, "seed": 2}, "seed 2"),
        ({"epoch": 0, "position": 25, "num_rows": 20, "seed": 1}, "outside"),
    ],
)
def test_incompatible_states_are_refused(state, message):
    with pytest.raises(ValueError, match=message):
        EpochSampler(20, SamplerConfig(seed=1)).load_state_dict(state)


def test_bounds():
    with pytest.raises(ValueError, match="nothing to sample"):
        EpochSampler(0, SamplerConfig())
    sampler = EpochSampler(3, SamplerConfig())
    with pytest.raises(ValueError, match="cannot consume"):
        sampler.advance(4)
