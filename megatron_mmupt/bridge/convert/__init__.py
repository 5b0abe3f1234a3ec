"""Checkpoint converters between Hugging Face folders and Megatron-Core dist-checkpoints (any TP/PP).

* ``hf_to_mcore.hf_to_mcore(hf_dir, out, parallel=ParallelConfig(...))``: HF folder -> dist-checkpoint at TP/PP.
* ``mcore_to_hf.mcore_to_hf(ckpt, out)``: dist-checkpoint -> HF folder, loaded at the launch's TP/PP.

Both run in one process or under ``torchrun`` (every rank calls them with the same arguments); the command line
is ``megatron-mmupt convert {hf-to-mcore,mcore-to-hf}``. See ``docs/bridge.md``.
"""
