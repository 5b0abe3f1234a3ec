"""The preset registry: the shipped names, one signature, lookups that list the valid names."""

from __future__ import annotations

import pytest

from megatron_mmupt.data.presets import PRESETS, PresetContext
from megatron_mmupt.data.types import Example
from megatron_mmupt.utils.registry import SignatureMismatchError, UnknownEntryError

SHIPPED = ("generic", "geometry3k", "geoqa", "mathverse", "mathvision", "mathvista", "mmr1", "synthesized", "we_math")


def test_every_training_set_and_benchmark_has_a_preset():
    assert PRESETS.names() == SHIPPED


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(
        UnknownEntryError, match="unknown dataset preset 'mathvista2'; valid names: generic, geometry3k"
    ):
        PRESETS.get("mathvista2")


def test_a_preset_with_another_signature_is_refused():
    with pytest.raises(SignatureMismatchError, match=r"must take \(row, index, ctx\)"):

        @PRESETS.register("two_args")
        def two_args(row, ctx) -> Example: ...

    assert "two_args" not in PRESETS


def test_context_refuses_unknown_column_roles():
    with pytest.raises(ValueError, match="unknown column roles \\['label'\\]"):
        PresetContext(columns={"label": "gt"})
