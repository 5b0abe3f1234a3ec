"""Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``): the Qwen2 decoder's names, plus the vision tower.

The vision tower keeps its HF names under ``visual.`` (transformers' module, replicated on every TP rank):
one prefix rule, replicated layout.
"""

from __future__ import annotations

from megatron_mmupt.bridge.name_maps import qwen2
from megatron_mmupt.bridge.name_maps.rules import NameMap

NAME_MAP = NameMap(layer_rules=qwen2.LAYER_RULES, global_rules=qwen2.GLOBAL_RULES, vision_prefix=("visual.", "visual."))
