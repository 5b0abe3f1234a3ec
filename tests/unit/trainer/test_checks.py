"""Bad runs fail before any work: no Ray, no model, no data is touched, and the message names the fix."""

from __future__ import annotations

import shutil

import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.recipes import resolve_run_config
from megatron_mmupt.train import train


def config(demo_dir, model_dir, tmp_path, *extra):
    return resolve_run_config(
        "demo",
        [
            f"actor.model={model_dir}", f"data.processor={demo_dir / 'processor'}",
            f"data.source.path={demo_dir / 'train.parquet'}", f"eval.source.path={demo_dir / 'test.parquet'}",
            f"output_dir={tmp_path / 'run'}", *extra,
        ],
    )  # fmt: skip


@pytest.fixture(autouse=True)
def no_ray_started():
    import ray

    assert not ray.is_initialized()
    yield
    assert not ray.is_initialized(), "a bad config must fail before Ray starts"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("actor.parallel.tensor_degree=3", "trainer.world_size=3"), "must divide the 4 attention heads"),
        (("actor.parallel.pipeline_degree=3", "trainer.world_size=3"), "must divide the 2 layers"),
        (("actor.parallel.tensor_degree=2",), "trainer.world_size=1 is not a multiple"),
        (("trainer.updates_per_step=64",), "needs at least as many prompts per step"),
        (("rollout.sampling.n=1",), "the vote needs at least 2 samples"),
        (("data.source.path=/nowhere/train.parquet",), "does not exist"),
    ],
)
def test_bad_configs_fail_before_any_work(demo_dir, tiny_model_dir, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        train(config(demo_dir, tiny_model_dir, tmp_path, *overrides))
    assert not (tmp_path / "run").exists()


def test_missing_model_files_are_named(demo_dir, tiny_model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="has no \\*.safetensors weights"):
        train(config(demo_dir, broken, tmp_path))
    (broken / "config.json").unlink()
    with pytest.raises(ConfigError, match="lacks config.json"):
        train(config(demo_dir, broken, tmp_path))
    with pytest.raises(ConfigError, match="is not a folder"):
        train(config(demo_dir, tmp_path / "missing", tmp_path))


def test_a_started_run_is_not_overwritten_and_resume_needs_one(demo_dir, tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="holds no run to resume"):
        train(config(demo_dir, tiny_model_dir, tmp_path), resume=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(ConfigError, match="pass --resume to continue"):
        train(config(demo_dir, tiny_model_dir, tmp_path))
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == '{"step": 1}\n'
