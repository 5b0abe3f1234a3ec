"""The rollout stage: ``PromptBatch`` -> ``list[RolloutGroup]``, and weight updates from the bridge.

Layout, one home per concept:

    engine.py, errors.py, types.py     the engine protocol (``RolloutEngine``), its errors, the stage's output types
    token_policy.py, weights.py        what every engine shares: suppressed tokens; bucket names/shapes checks
    config.py, balancer.py,            a run's engines: the rollout config, several engines behind one, the
    offline.py, ray_local.py           offline jobs' engine, engines as Ray actors
    local/                             the local engine: transformers in this process (decode loop, sampler)
    serve/                             ``megatron-mmupt serve``: the local engine behind SGLang's HTTP API
    sglang/                            the SGLang client: wire format, launch args, server process, Ray actors
    sglang/transports/                 how weights reach an SGLang server: one function per endpoint (``calls``)
"""
