"""Qwen2-VL (``Qwen2VLForConditionalGeneration``): the Qwen2 decoder's names, plus the vision tower.

Its vision tower is another transformers class than Qwen2.5-VL's (LayerNorm with bias, ``mlp.fc1``/``fc2``,
``merger.ln_q``), kept, like it, under its HF names below ``visual.``: one prefix rule, replicated layout.
"""

from __future__ import annotations

from megatron_mmupt.bridge.name_maps import qwen2
from megatron_mmupt.bridge.name_maps.rules import NameMap

NAME_MAP = NameMap(layer_rules=qwen2.LAYER_RULES, global_rules=qwen2.GLOBAL_RULES, vision_prefix=("visual.", "visual."))
