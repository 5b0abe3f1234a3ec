"""The generic Registry: registration, duplicate refusal, lookups listing valid names, signature checks."""

from typing import Protocol

import pytest

from megatron_mmupt.utils.registry import DuplicateEntryError, Registry, SignatureMismatchError, UnknownEntryError


class _Scorer(Protocol):
    def __call__(self, x: int, scale: float) -> float: ...


def test_register_returns_function_and_get_finds_it():
    reg: Registry = Registry("scorer")

    @reg.register("double")
    def double(x, scale):
        return 2 * x * scale

    assert double(3, 1.0) == 6.0  # the decorator returns the function unchanged
    assert reg.get("double") is double
    assert "double" in reg and "triple" not in reg
    assert len(reg) == 1


def test_duplicate_name_is_refused_and_first_entry_kept():
    reg: Registry = Registry("scorer")

    @reg.register("a")
    def first(x, scale):
        return 1

    with pytest.raises(DuplicateEntryError, match=r"scorer 'a' is already registered"):

        @reg.register("a")
        def second(x, scale):
            return 2

    assert reg.get("a") is first


def test_unknown_name_lists_valid_names_sorted():
    reg: Registry = Registry("policy loss")
    for name in ("zeta", "alpha", "mid"):
        reg.register(name)(lambda x, scale: x)
    with pytest.raises(UnknownEntryError, match=r"unknown policy loss 'alhpa'; valid names: alpha, mid, zeta"):
        reg.get("alhpa")
    assert reg.names() == ("alpha", "mid", "zeta")
    assert list(reg) == ["alpha", "mid", "zeta"]


def test_unknown_name_in_empty_registry():
    with pytest.raises(UnknownEntryError, match=r"\(none registered\)"):
        Registry("thing").get("x")


def test_signature_is_enforced_against_protocol():
    reg: Registry = Registry("scorer", signature=_Scorer.__call__)

    @reg.register("ok")
    def ok(x, scale):
        return x

    with pytest.raises(SignatureMismatchError, match=r"takes \(x, factor\); every scorer must take \(x, scale\)"):

        @reg.register("renamed")
        def renamed(x, factor):
            return x

    with pytest.raises(SignatureMismatchError):

        @reg.register("keyword_only")
        def keyword_only(x, *, scale):
            return x

    assert reg.names() == ("ok",)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_names_must_be_non_empty_strings(bad):
    with pytest.raises(ValueError, match="non-empty strings"):
        Registry("scorer").register(bad)
