"""Evaluation: a model on benchmarks (``megatron-mmupt eval``) and on a held-out split during training.

Both go the same way: prompts -> ``generation`` (n samples per question through any rollout engine) ->
``grading`` (the reward stage's extraction and equivalence against the labels) -> ``metrics`` (pass@1, maj@n,
breakdowns). The engine comes from ``rollout.offline.open_engine`` (local, SGLang servers, or a running server).
``docs/evaluation.md`` describes the command, the benchmarks and the metrics.

| file | concept |
|---|---|
| ``benchmarks.py`` | the benchmark registry: data preset, split, breakdowns, own metrics; ``BenchmarkConfig`` |
| ``results.py`` | ``Question``, ``Responses`` (what the cache stores), ``ItemResult`` (one graded question) |
| ``generation.py`` | sampling with seeds independent of batching; the generation key of a question |
| ``grading.py`` | responses + labels -> ``ItemResult`` with the reward stage; ``GraderConfig`` |
| ``metrics.py`` | pure functions: pass@1, maj@n, ties, answer rate, breakdowns |
| ``we_math.py`` | We-Math's step levels and four-dimensional metrics |
| ``cache.py`` | the per-question JSON Lines cache that makes an interrupted run resume |
| ``model_source.py`` | ``--model``: an HF folder or a training checkpoint (export or conversion); fingerprint |
| ``runner.py`` | ``EvalConfig``, overrides, ``run_eval``: the command's flow |
| ``report.py`` | ``results.json``, ``results.md``, ``results.png`` |
| ``heldout.py`` | ``HeldOutEval``: the evaluation during training (``eval.*`` of a run) |
"""
