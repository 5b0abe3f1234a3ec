import pytest

from megatron_mmupt.reward.equivalence import Equivalence
from megatron_mmupt.reward.stage import RewardStage


@pytest.fixture(scope="module")
def equivalence():
    # One grader pool per test module: starting sympy workers costs about a second.
    eq = Equivalence.Config().build()
    yield eq
    eq.close()


@pytest.fixture(scope="module")
def stage():
    s = RewardStage.Config().build()
    yield s
    s.close()
