from collections import defaultdict

import numpy as np
import pytest
import torch

from megatron_mmupt.checkpoint.state_file import check_plain, read_state_file, write_state_file


def test_plain_state_round_trips(tmp_path):
    state = {
        "step": 3,
        "data": {"sampler": {"epoch": 0, "position": 4}, "batches_produced": 2},
        "metrics_history": {"reward/mean": [0.5, float("nan")]},
        "rng": (3, (1, 2), None),
        "tensor": torch.arange(3),
    }
    write_state_file(tmp_path / "s.pt", state)
    loaded = read_state_file(tmp_path / "s.pt")
    assert (
        loaded["data"] == state["data"]
        and loaded["rng"] == state["rng"]
        and torch.equal(loaded["tensor"], state["tensor"])
    )
    assert loaded["metrics_history"]["reward/mean"][0] == 0.5 and np.isnan(loaded["metrics_history"]["reward/mean"][1])


def test_objects_that_would_not_load_back_are_refused_naming_where(tmp_path):
    with pytest.raises(TypeError, match=r"trainer_state\['data'\]\['order'\] is a ndarray.*torch.from_numpy"):
        check_plain({"data": {"order": np.arange(3)}})
    with pytest.raises(TypeError, match=r"trainer_state\['x'\]\[1\] is a object"):
        check_plain({"x": [1, object()]})
    with pytest.raises(TypeError, match="keys must be str or int"):
        check_plain({(1, 2): 3})
    with pytest.raises(TypeError, match=r"trainer_state\['metrics_history'\] is a defaultdict.*dict\(defaultdict\)"):
        check_plain({"metrics_history": defaultdict(list)})  # would pickle as a defaultdict: unloadable
    with pytest.raises(TypeError, match=r"trainer_state\['loss'\] is a float64.*float\(numpy_scalar\)"):
        check_plain({"loss": np.float64(0.5)})
    with pytest.raises(TypeError):
        write_state_file(tmp_path / "s.pt", {"path": tmp_path})
    assert not (tmp_path / "s.pt").exists()
