"""Resolve a Megatron parameter name of this rank to its rule and Hugging Face tensor names.

Megatron numbers decoder layers per pipeline stage (``decoder.layers.0`` is the stage's first layer);
checkpoints number them globally. ``layer_offset`` (the stage's first global layer) converts.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from megatron_mmupt.bridge.name_maps import name_map_for
from megatron_mmupt.bridge.name_maps.rules import NameMap
from megatron_mmupt.bridge.transforms import Layout


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """One Megatron parameter: its rule, global layer (or None) and HF tensor names."""

    megatron: str
    layout: Layout
    hf: tuple[str, ...]
    layer: int | None
    is_vision: bool = False


class ParamMap:
    """Lookups in one family's name map for one layer spec (``local`` or ``te``)."""

    def __init__(self, spec: str, name_map: NameMap) -> None:
        if spec not in name_map.layer_rules:
            raise ValueError(f"unknown layer spec {spec!r}; choose one of: {', '.join(name_map.layer_rules)}")
        self.spec, self.name_map = spec, name_map
        self._layer_rules = [(_pattern(rule.megatron), rule) for rule in name_map.layer_rules[spec]]
        self._global_rules = {rule.megatron: rule for rule in name_map.global_rules}

    @classmethod
    def for_config(cls, hf_config: Any, spec: str) -> ParamMap:
        """The map of ``hf_config``'s family (by its architecture)."""
        return cls(spec, name_map_for(hf_config))

    def resolve(self, megatron_name: str, layer_offset: int = 0) -> Resolved:
        """The rule of ``megatron_name`` (a local name of this stage); ``KeyError`` naming it when unmapped."""
        if megatron_name in self._global_rules:
            rule = self._global_rules[megatron_name]
            return Resolved(megatron_name, rule.layout, rule.hf, None)
        if self.name_map.vision_prefix is not None:
            megatron_prefix, hf_prefix = self.name_map.vision_prefix
            if megatron_name.startswith(megatron_prefix):
                hf_name = hf_prefix + megatron_name[len(megatron_prefix) :]
                return Resolved(megatron_name, Layout.REPLICATED, (hf_name,), None, is_vision=True)
        for pattern, rule in self._layer_rules:
            match = pattern.fullmatch(megatron_name)
            if match:
                layer = int(match.group(1)) + layer_offset
                return Resolved(megatron_name, rule.layout, tuple(n.format(i=layer) for n in rule.hf), layer)
        raise KeyError(f"no bridge rule for Megatron parameter {megatron_name!r} (layer spec {self.spec!r})")

    def hf_names(self, megatron_names: list[str], layer_offset: int = 0) -> set[str]:
        return {name for m in megatron_names for name in self.resolve(m, layer_offset).hf}


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{i}"), r"(\d+)"))
