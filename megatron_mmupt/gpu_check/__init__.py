"""The one-shot GPU acceptance check behind ``tools/gpu_check.py``: five sections, one JSON report.

    workload.py   sizes (``GPU``: Qwen2.5-VL-7B's width with few layers; ``CPU``: the demo model's), the model
                  folder built from them, the prompts, the device and its bf16 peak
    report.py     runs each section in isolation (a failure is recorded with its traceback, the rest go on)
    actors.py     the Megatron actor of the check: the one place that builds it and puts it on the device
    parity.py     bf16 Megatron (local spec) vs transformers logits
    grpo.py       one GRPO step of the actor: old and reference log-probs, the update; tokens/s and MFU
    offload.py    the actor's offload/onload against the allocator, and the planner's estimate beside the peak
    engine.py     the local engine's tokens/s at n=8
    ipc.py        one weight bucket by CUDA-IPC handle (shared memory on CPU) into another process

Every section reuses the project's own component (the actor, the planner, the local engine, the tensor
payload); the check adds only measurement. ``--cpu`` runs the same code on the CPU with the demo model's sizes,
so CI exercises every line a GPU run will execute except the CUDA calls themselves.
"""
