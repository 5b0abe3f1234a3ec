"""Declarative name maps, one per model family, keyed by the architecture a checkpoint's config names.

The keys are those of ``models.families.FAMILIES`` (a test keeps the two tables in step).
"""

from __future__ import annotations

from typing import Any

from megatron_mmupt.bridge.name_maps import qwen2, qwen2_5_vl, qwen2_vl
from megatron_mmupt.bridge.name_maps.rules import NameMap
from megatron_mmupt.models.families import family_of

NAME_MAPS: dict[str, NameMap] = {
    "Qwen2_5_VLForConditionalGeneration": qwen2_5_vl.NAME_MAP,
    "Qwen2VLForConditionalGeneration": qwen2_vl.NAME_MAP,
    "Qwen2ForCausalLM": qwen2.NAME_MAP,
}


def name_map_for(hf_config: Any) -> NameMap:
    """The name map of ``hf_config``'s family; ``ConfigError`` listing the supported architectures otherwise."""
    return NAME_MAPS[family_of(hf_config).architecture]
