"""megatron_mmupt: unsupervised post-training of multimodal LLMs with GRPO and a majority-vote reward (MM-UPT)."""

__version__ = "0.1.0"
