"""Write the shipped sample of responses (``examples/data/sample_responses.jsonl``).

The sample is synthetic (``megatron_mmupt.testing.responses``): chain-of-thought responses in the style
of a multimodal model, with ground-truth answers for the diagnostics. Regenerating it with the same
arguments gives the same file; ``tests/unit/testing/test_responses.py`` checks that it does.

    python tools/make_sample_responses.py [--prompts 34] [--group-size 10] [--seed 2505] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from megatron_mmupt.testing.responses import generate_rows
from megatron_mmupt.utils.atomic import atomic_writer

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data" / "sample_responses.jsonl"
DEFAULTS = {"prompts": 34, "group_size": 10, "seed": 2505, "min_steps": 2, "max_steps": 7}


def write_sample(path: Path, prompts: int, group_size: int, seed: int, min_steps: int, max_steps: int) -> int:
    rows = generate_rows(prompts, group_size, seed=seed, min_steps=min_steps, max_steps=max_steps)
    count = 0
    with atomic_writer(path) as f:
        for row in rows:
            f.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=DEFAULTS["prompts"])
    parser.add_argument("--group-size", type=int, default=DEFAULTS["group_size"])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--output", type=Path, default=SAMPLE)
    args = parser.parse_args()
    count = write_sample(
        args.output, args.prompts, args.group_size, args.seed, DEFAULTS["min_steps"], DEFAULTS["max_steps"]
    )
    print(f"wrote {count} responses to {args.output}")


if __name__ == "__main__":
    main()
