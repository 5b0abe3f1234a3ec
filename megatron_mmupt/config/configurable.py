"""Typed configuration: every component owns a nested ``Config`` and builds itself from it.

A component declares::

    class MajorityVote(Configurable):
        @dataclass(kw_only=True, slots=True)
        class Config(Configurable.Config):
            min_vote_share: float = 0.0
            '''Groups whose majority share is below this are skipped.'''

            def __post_init__(self):
                check_range("min_vote_share", self.min_vote_share, 0.0, 1.0)

        def __init__(self, config: Config, *, judge: SymbolicJudge): ...

and is built with ``cfg.build(judge=judge)``: configuration lives in the dataclass, runtime objects
(process groups, engines, judges) are passed to ``build``. Sections that configure no component of
their own (e.g. extraction rules) subclass :class:`ConfigNode` instead.

Rules enforced here, so every section behaves alike under overrides and serialization:
* ``@dataclass(kw_only=True, slots=True)``: no positional construction, no stray attributes;
* each section validates its own fields in ``__post_init__`` (re-run on every override);
* ``build`` refuses runtime kwargs that shadow config fields (one source of truth per value).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A configuration value or key is invalid. The message names the key and how to fix it."""


@dataclasses.dataclass(kw_only=True, slots=True)
class ConfigNode:
    """Base of every configuration dataclass (sections and component configs)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the resolved values, nested sections included."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if not f.name.startswith("_")}

    def leaves(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Yield ``(dotted_key, value)`` for every non-section field, depth first."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            key = f"{prefix}{f.name}"
            if isinstance(value, ConfigNode):
                yield from value.leaves(key + ".")
            else:
                yield key, value


def _plain(value: Any) -> Any:
    if isinstance(value, ConfigNode):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class Configurable:
    """Base class of components that are built from a nested ``Config``.

    ``__init_subclass__`` checks the nested ``Config`` is a kw-only, slotted dataclass and wires
    ``Config.build`` to construct the owning class.
    """

    @dataclasses.dataclass(kw_only=True, slots=True)
    class Config(ConfigNode):
        _owner: ClassVar[type | None] = None

        def build(self, **runtime: Any) -> Any:
            """Construct the owning component from this config and runtime objects."""
            owner = type(self)._owner
            if owner is None:
                raise TypeError(f"{type(self).__qualname__} is not nested in a Configurable subclass")
            clash = {f.name for f in dataclasses.fields(self)} & runtime.keys()
            if clash:
                raise TypeError(
                    f"{owner.__name__}.Config.build() got {sorted(clash)}, which are config fields; "
                    "set them in the config, not as build() arguments"
                )
            return owner(config=self, **runtime)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config_cls = cls.__dict__.get("Config")
        if config_cls is None:
            return
        if not (isinstance(config_cls, type) and issubclass(config_cls, Configurable.Config)):
            raise TypeError(f"{cls.__name__}.Config must subclass Configurable.Config")
        check_dataclass_style(config_cls, owner_name=cls.__name__)
        config_cls._owner = cls


def check_dataclass_style(config_cls: type, owner_name: str) -> None:
    """Refuse config classes that are not ``@dataclass(kw_only=True, slots=True)``."""
    if not dataclasses.is_dataclass(config_cls) or "__slots__" not in config_cls.__dict__:
        raise TypeError(f"{owner_name}.Config must be decorated with @dataclass(kw_only=True, slots=True)")
    for f in dataclasses.fields(config_cls):
        if f.init and not f.kw_only:
            raise TypeError(f"{owner_name}.Config field {f.name!r} must be keyword-only")


# --- validation helpers: one line per check in a section's __post_init__ ---------------------------


def check_choice(key: str, value: Any, allowed: Iterator[Any] | tuple | list | set | frozenset) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, allowed))}")


def check_range(key: str, value: float, low: float | None = None, high: float | None = None) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ConfigError(f"{key}={value!r} is out of range; it must lie in {bounds}")


def check_positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{key}={value!r} must be > 0")
