"""The Megatron-Core actor: the only package (with ``bridge/``) that imports ``megatron.core``."""
