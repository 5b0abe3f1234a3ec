"""Dotted overrides (``reward.vote.min_vote_share=0.5``) applied to a typed config tree.

Values arrive as strings (from the command line) or as Python values (from code) and are checked
against the field's annotation before anything runs. The tree is rebuilt with
``dataclasses.replace`` along the path, so every touched section re-runs its ``__post_init__``
validation. Unknown keys fail with the nearest valid keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from megatron_mmupt.config.configurable import ConfigError, ConfigNode

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


def parse_override(text: str) -> tuple[str, str]:
    """Split ``key=value`` (a leading ``--`` is allowed)."""
    body = text[2:] if text.startswith("--") else text
    key, sep, value = body.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. reward.mode=vote_share)")
    return key.strip(), value


def apply_overrides(config: ConfigNode, overrides: Iterable[str] | dict[str, Any]) -> ConfigNode:
    """Return a new config with each override applied in order; the input is not modified."""
    items = overrides.items() if isinstance(overrides, dict) else (parse_override(o) for o in overrides)
    for key, value in items:
        config = _set_path(config, key.split("."), value, full_key=key)
    return config


def _set_path(node: ConfigNode, path: list[str], value: Any, full_key: str) -> ConfigNode:
    names = {f.name: f for f in dataclasses.fields(node) if f.init and not f.name.startswith("_")}
    head = path[0]
    if head not in names:
        raise ConfigError(_unknown_key_message(node, full_key, path))
    current = getattr(node, head)
    if len(path) == 1:
        if isinstance(current, ConfigNode):
            raise ConfigError(f"{full_key} is a section, not a value; set one of its keys, e.g. {full_key}.<key>=...")
        hint = typing.get_type_hints(type(node))[head]
        new_value = coerce(value, hint, full_key)
    elif isinstance(current, ConfigNode):
        new_value = _set_path(current, path[1:], value, full_key)
    else:
        raise ConfigError(f"{'.'.join(path[:1])} in {full_key} is a value, not a section")
    try:
        return dataclasses.replace(node, **{head: new_value})
    except ConfigError as e:
        raise ConfigError(f"{full_key}: {e}") from None


def _unknown_key_message(node: ConfigNode, full_key: str, path: list[str]) -> str:
    prefix = full_key[: len(full_key) - len(".".join(path))]
    valid = [prefix + k for k, _ in node.leaves()]
    close = difflib.get_close_matches(full_key, valid, n=3, cutoff=0.5)
    hint = f"did you mean: {', '.join(close)}?" if close else f"valid keys here: {', '.join(valid[:12])}"
    return f"unknown config key {full_key!r}; {hint}"


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Convert ``value`` to the annotated type ``hint`` or raise a ConfigError naming ``key``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if _is_none(value) and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}={value!r} matches none of {hint}")
    if origin is Literal:
        return _coerce_literal(value, typing.get_args(hint), key)
    if origin in (tuple, list):
        return _coerce_sequence(value, hint, origin, key)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(
                f"{key}={value!r} is not valid; choose one of: {', '.join(m.value for m in hint)}"
            ) from None
    if hint in (bool, int, float, str):
        return _coerce_scalar(value, hint, key)
    if hint is Any:
        return value
    raise ConfigError(f"{key} has type {hint}, which cannot be set from an override")


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE)


def _coerce_scalar(value: Any, hint: type, key: str) -> Any:
    if not isinstance(value, str):
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is hint:
            return value
        raise ConfigError(f"{key} expects {hint.__name__}, got {type(value).__name__} {value!r}")
    text = value.strip()
    if hint is str:
        return value
    if hint is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{key} expects a boolean (true/false), got {value!r}")
    try:
        return hint(text)
    except ValueError:
        raise ConfigError(f"{key} expects {hint.__name__}, got {value!r}") from None


def _coerce_literal(value: Any, allowed: tuple, key: str) -> Any:
    for option in allowed:
        if value == option or (isinstance(value, str) and not isinstance(option, str) and value == str(option)):
            return option
    raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, allowed))}")


def _coerce_sequence(value: Any, hint: Any, origin: type, key: str) -> Any:
    args = typing.get_args(hint)
    item_hint = args[0] if args else Any
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")) and text.endswith(("]", ")")):
            text = text[1:-1]
        items: list[Any] = [t.strip() for t in text.split(",") if t.strip()] if text else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{key} expects a comma-separated list, got {value!r}")
    if origin is tuple and len(args) > 1 and args[1] is not Ellipsis:
        if len(items) != len(args):
            raise ConfigError(f"{key} expects {len(args)} values, got {len(items)}: {value!r}")
        return tuple(coerce(v, a, key) for v, a in zip(items, args, strict=True))
    return origin(coerce(v, item_hint, key) for v in items)
