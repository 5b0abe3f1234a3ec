"""Config <-> JSON: the resolved config is written into every run directory and can be read back."""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

from megatron_mmupt.config.configurable import ConfigError, ConfigNode
from megatron_mmupt.config.overrides import coerce
from megatron_mmupt.utils.atomic import atomic_write_text

CONFIG_FILENAME = "config.json"

NodeT = TypeVar("NodeT", bound=ConfigNode)


def config_from_dict(cls: type[NodeT], data: dict[str, Any], prefix: str = "") -> NodeT:
    """Build ``cls`` from a (possibly partial) dict; missing keys keep their defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.5)
            hint = (
                f"did you mean: {', '.join(prefix + c for c in close)}?"
                if close
                else f"valid keys: {', '.join(fields)}"
            )
            raise ConfigError(f"unknown config key {prefix + key!r}; {hint}")
        hint = hints[key]
        if isinstance(hint, type) and issubclass(hint, ConfigNode):
            kwargs[key] = config_from_dict(hint, value, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = coerce(value, hint, prefix + key)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{prefix}{e}" if prefix else str(e)) from None


def write_config(config: ConfigNode, run_dir: str | Path, filename: str = CONFIG_FILENAME) -> Path:
    """Write the resolved config as ``<run_dir>/<filename>`` (atomically) and return the path."""
    path = Path(run_dir) / filename
    atomic_write_text(path, json.dumps(config.to_dict(), indent=2, sort_keys=False) + "\n")
    return path


def read_config(cls: type[NodeT], path: str | Path) -> NodeT:
    """Read a config written by :func:`write_config` (a run directory or the JSON file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILENAME
    if not path.is_file():
        raise ConfigError(f"no config file at {path}; pass a run directory that holds {CONFIG_FILENAME}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); it may be truncated") from None
    return config_from_dict(cls, data)
