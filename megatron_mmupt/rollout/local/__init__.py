"""The local rollout engine: a transformers model in this process (``engine``), its batched decode loop
(``decoding``) and its sampler (``token_sampler``)."""
