"""Runs are Python functions returning a ``RunConfig``.

``--recipe NAME`` takes a name registered here or a ``package.module:function`` path to a user's own
recipe function. The ``demo`` recipe lives with the rest of the demo (``megatron_mmupt/demo/recipe.py``). Recipes are the only place where sets of hyper-parameters are written down.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from megatron_mmupt.config.configurable import ConfigError
from megatron_mmupt.config.overrides import apply_overrides
from megatron_mmupt.config.run_config import RunConfig
from megatron_mmupt.demo import recipe as demo
from megatron_mmupt.recipes import qwen2_5_vl
from megatron_mmupt.utils.registry import Registry, UnknownEntryError

RECIPES: Registry[Callable[[], RunConfig]] = Registry("recipe")
RECIPES.register("demo")(demo.demo)
RECIPES.register("qwen2_5_vl_7b_mmr1")(qwen2_5_vl.qwen2_5_vl_7b_mmr1)
RECIPES.register("qwen2_5_vl_72b_mmr1")(qwen2_5_vl.qwen2_5_vl_72b_mmr1)

DEFAULT_RECIPE = "demo"


def load_recipe(name: str) -> RunConfig:
    """Build the config of a registered recipe or of ``package.module:function``."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"cannot load recipe {name!r}: {e}") from None
    else:
        try:
            fn = RECIPES.get(name)
        except UnknownEntryError as e:
            raise ConfigError(f"{e}; or pass package.module:function") from None
    if not callable(fn):
        raise ConfigError(f"recipe {name!r} is not a function returning a RunConfig")
    try:
        config = fn()
    except TypeError as e:
        raise ConfigError(f"recipe {name!r} must be callable without arguments ({e})") from None
    if not isinstance(config, RunConfig):
        raise ConfigError(f"recipe {name!r} returned {type(config).__name__}, not a RunConfig")
    return config


def resolve_run_config(recipe: str = DEFAULT_RECIPE, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Recipe, then dotted overrides, then cross-section validation: everything before any work starts."""
    config = apply_overrides(load_recipe(recipe), overrides)
    assert isinstance(config, RunConfig)
    return config.validate()
