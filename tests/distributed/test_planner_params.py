"""The planner's parameter count per GPU equals the Megatron model each rank builds, at TP=2 and at PP=2."""

import json

import pytest

from megatron_mmupt.actor.megatron.distributed import init_parallel
from megatron_mmupt.actor.megatron.model_provider import build_model, load_hf_config
from megatron_mmupt.parallel.config import ParallelConfig
from megatron_mmupt.planner.model_shape import from_hf_config
from megatron_mmupt.planner.params import stage_params

try:  # pytest's default "prepend" import mode puts this directory on sys.path
    from launch import run_distributed
except ImportError:  # importlib mode or a tests/ package
    from tests.distributed.launch import run_distributed

pytestmark = pytest.mark.distributed


def _count_worker(rank: int, world_size: int, model_dir: str, tp: int, pp: int) -> tuple[int, int]:
    parallel = ParallelConfig(tensor_degree=tp, pipeline_degree=pp)
    groups = init_parallel(parallel)
    model = build_model(load_hf_config(model_dir), parallel, groups, spec="local")
    return groups.pp_rank, sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("tp", "pp", "tied"), [(2, 1, False), (1, 2, True)])  # PP: a tied copy on the last stage
def test_stage_params_equal_megatron(tiny_model_dir, tmp_path, tp, pp, tied):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["tie_word_embeddings"] = config["text_config"]["tie_word_embeddings"] = tied
    (tmp_path / "config.json").write_text(json.dumps(config))
    shape = from_hf_config(config, name="tiny", source="test")
    padded = ParallelConfig(tensor_degree=tp).padded_vocab_size(shape.text.vocab_size)
    for stage, count in run_distributed(_count_worker, 2, str(tmp_path), tp, pp, timeout=180):
        expected = stage_params(shape, tensor_degree=tp, pipeline_degree=pp, stage=stage, padded_vocab=padded,
                                freeze_vision=False)  # fmt: skip
        assert count == expected.total, f"stage {stage}"
