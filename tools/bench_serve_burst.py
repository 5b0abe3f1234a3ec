"""A burst of concurrent ``/generate`` clients against ``megatron-mmupt serve``: how many get an answer.

    python tools/bench_serve_burst.py --model-path DIR [--threads 64] [--requests 400] [--backlog 5]

``--threads`` clients (the SGLang client's ``max_concurrency`` is 64) each open a connection per request, one
short greedy sample each (``max_new_tokens=1``), ``--requests`` in all. Prints the counts of answers by status and
of connection errors by kind. ``--backlog`` overrides the listen backlog (5 is ``socketserver``'s default, what
``serve`` had before issue 24; without it, the server's own).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import time
import urllib.error
import urllib.request

from megatron_mmupt.rollout.local.engine import LocalEngine
from megatron_mmupt.rollout.serve import server as serve_module


def _one(url: str) -> str:
    body = json.dumps({"input_ids": [5, 6, 7], "sampling_params": {"max_new_tokens": 1, "temperature": 0}})
    request = urllib.request.Request(url + "/generate", body.encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return f"{type(reason).__name__}: {reason}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=0, help="listen backlog override (0: serve's own)")
    args = parser.parse_args()
    if args.backlog:
        serve_module._HTTPServer.request_queue_size = args.backlog
    config = serve_module.RolloutServer.Config(engine=LocalEngine.Config(model_path=args.model_path), port=0)
    server = config.build().start()
    try:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            outcomes = collections.Counter(pool.map(lambda _: _one(server.url), range(args.requests)))
        seconds = time.perf_counter() - start
    finally:
        server.close()
    backlog = serve_module._HTTPServer.request_queue_size
    print(json.dumps({"threads": args.threads, "requests": args.requests, "backlog": backlog,
                      "seconds": round(seconds, 1), "outcomes": dict(outcomes)}))  # fmt: skip


if __name__ == "__main__":
    main()
