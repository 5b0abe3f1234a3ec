"""A small generic name -> implementation registry (advantage estimators, policy losses, KL estimators, ...).

Entries register themselves with a decorator at import time::

    ADVANTAGE_ESTIMATORS = Registry("advantage estimator", signature=AdvantageFn.__call__)

    @ADVANTAGE_ESTIMATORS.register("grpo")
    def grpo_advantages(rewards, group_ids, cfg): ...

Rules, so that a dispatcher never needs to special-case a name (the weakness of verl's
``compute_advantage``):
* a name is registered once; a second registration is refused (no silent override by import order);
* every entry of one registry has the same call signature (checked at registration when ``signature`` is given);
* a lookup of an unknown name fails listing the valid names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=Callable)


class UnknownEntryError(LookupError):
    """A registry lookup named an entry that does not exist; the message lists the valid names."""


class DuplicateEntryError(ValueError):
    """A name was registered twice in one registry."""


class SignatureMismatchError(TypeError):
    """An entry's parameters differ from the registry's declared signature."""


class Registry(Generic[T]):
    """Maps names to callables of one kind.

    Args:
        kind: what the entries are, used in error messages (``"policy loss"``).
        signature: optional reference callable; when given, every registered entry must take parameters with
            the same names, kinds and order (annotations and defaults are not compared). A leading ``self``
            of the reference (e.g. a ``Protocol.__call__``) is ignored.
    """

    def __init__(self, kind: str, *, signature: Callable | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._signature = _parameter_shape(signature, drop_self=True) if signature is not None else None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``fn`` under ``name``; returns ``fn`` unchanged."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def decorator(fn: T) -> T:
            if name in self._entries:
                raise DuplicateEntryError(
                    f"{self.kind} {name!r} is already registered (by {_qualname(self._entries[name])}); "
                    "choose another name"
                )
            if self._signature is not None:
                got = _parameter_shape(fn, drop_self=False)
                if got != self._signature:
                    raise SignatureMismatchError(
                        f"{self.kind} {name!r} ({_qualname(fn)}) takes {_format(got)}; "
                        f"every {self.kind} must take {_format(self._signature)}"
                    )
            self._entries[name] = fn
            return fn

        return decorator

    def get(self, name: str) -> T:
        """The entry registered under ``name``; unknown names raise :class:`UnknownEntryError`."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownEntryError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names()) or '(none registered)'}"
            ) from None

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self.names())})"


def _parameter_shape(fn: Callable, *, drop_self: bool) -> tuple[tuple[str, inspect._ParameterKind], ...]:
    params = list(inspect.signature(fn).parameters.values())
    if drop_self and params and params[0].name == "self":
        params = params[1:]
    return tuple((p.name, p.kind) for p in params)


def _format(shape: tuple[tuple[str, inspect._ParameterKind], ...]) -> str:
    return "(" + ", ".join(name for name, _ in shape) + ")"


def _qualname(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
