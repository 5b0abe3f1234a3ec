import random

import numpy as np
import torch

from megatron_mmupt.checkpoint.rng import capture_rng_state, restore_rng_state
from megatron_mmupt.checkpoint.state_file import read_state_file, write_state_file


def draws():
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()


def test_restored_generators_repeat_their_draws_after_a_file_round_trip(tmp_path):
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    np.random.randn()  # leaves a cached gaussian in NumPy's legacy state
    write_state_file(tmp_path / "rng.pt", capture_rng_state())
    expected = draws()
    random.seed(2)
    np.random.seed(2)
    torch.manual_seed(2)
    assert draws() != expected
    restore_rng_state(read_state_file(tmp_path / "rng.pt"))  # weights_only load: plain types only
    assert draws() == expected
