import pytest

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.recipes import RECIPES, load_recipe, resolve_run_config


@pytest.mark.parametrize("name", RECIPES.names())
def test_every_recipe_builds_and_validates(name):
    config = resolve_run_config(name)
    assert isinstance(config, RunConfig) and config.name


def test_reference_recipe_matches_mm_upt():
    config = load_recipe("qwen2_5_vl_7b_mmr1")
    assert config.reward.mode == "majority" and config.reward.format.weight == 0.0
    loss = config.algorithm.policy_loss
    assert (loss.clip_low, loss.clip_high, loss.clip_dual) == (0.2, 0.3, 3.0)
    assert (config.algorithm.kl.estimator, config.algorithm.kl.coef) == ("k3", 0.01)
    assert (config.algorithm.advantage.estimator, config.algorithm.advantage.eps) == ("grpo", 1e-6)


def test_recipes_by_path_and_errors():
    assert load_recipe("megatron_mmupt.demo.recipe:demo").name == "demo"
    with pytest.raises(ConfigError, match="unknown recipe 'dmeo'; valid names: demo"):
        load_recipe("dmeo")
    with pytest.raises(ConfigError, match="cannot load recipe"):
        load_recipe("no.such:thing")
    with pytest.raises(ConfigError, match="returned dict, not a RunConfig"):
        load_recipe("builtins:dict")
    with pytest.raises(ConfigError, match="without arguments"):
        load_recipe("megatron_mmupt.recipes:load_recipe")
    with pytest.raises(ConfigError, match="not a function"):
        load_recipe("megatron_mmupt.recipes:DEFAULT_RECIPE")
