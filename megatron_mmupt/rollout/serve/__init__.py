"""``megatron-mmupt serve``: the local engine behind the subset of SGLang's HTTP API our client uses (``server``),
its request parsing (``requests``), batching (``scheduler``) and weight endpoints (``weights``)."""
