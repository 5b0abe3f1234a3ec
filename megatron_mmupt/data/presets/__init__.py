"""Column-mapping presets: one dataset schema each -> ``Example`` (see ``docs/data.md``, "Dataset presets").

Importing this package registers every preset in ``PRESETS``.
"""

from megatron_mmupt.data.presets import generic, mathverse, mathvision, mathvista, training, we_math
from megatron_mmupt.data.presets.registry import PRESETS, ROLES, PresetContext, PresetFn

__all__ = [
    "PRESETS",
    "ROLES",
    "PresetContext",
    "PresetFn",
    "generic",
    "mathverse",
    "mathvision",
    "mathvista",
    "training",
    "we_math",
]
