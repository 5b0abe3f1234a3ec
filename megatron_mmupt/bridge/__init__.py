"""Megatron-Core <-> Hugging Face weights: name maps, tensor-parallel layouts, import, export, converters."""
