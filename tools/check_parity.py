"""Compare the Megatron-Core model (weights loaded through the bridge) with transformers on the same inputs.

Prints the largest absolute logit difference over real tokens and exits non-zero above ``--tolerance``.
One process, or ``tp * pp`` processes under torchrun (any node count):

    python tools/check_parity.py --hf /models/tiny-qwen2.5-vl
    torchrun --nproc_per_node 2 tools/check_parity.py --hf /models/tiny-qwen2.5-vl --tp 2
    torchrun --nnodes 2 --node_rank $RANK --master_addr $HEAD --nproc_per_node 8 tools/check_parity.py --hf DIR --tp 8 --pp 2

Only the last pipeline stage's TP rank 0 loads the transformers model (it holds the full logits after the
vocab gather), so a 7B check needs one extra copy of the model in that process's memory, not one per rank.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.distributed as dist


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hf", required=True, help="Hugging Face model folder (config, weights, processor files)")
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--pp", type=int, default=1)
    parser.add_argument("--spec", choices=("auto", "local", "te"), default="local")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")

    from megatron_mmupt.actor.megatron.distributed import init_parallel
    from megatron_mmupt.actor.megatron.parity import (
        max_abs_difference,
        megatron_logits,
        parity_batch,
        transformers_logits,
    )
    from megatron_mmupt.actor.megatron.specs import resolve_spec
    from megatron_mmupt.parallel.config import ParallelConfig

    parallel = ParallelConfig(tensor_degree=args.tp, pipeline_degree=args.pp)
    groups = init_parallel(parallel)
    batch, real = parity_batch(args.hf)
    logits = megatron_logits(args.hf, parallel, groups, batch, spec=resolve_spec(args.spec))
    status = 0
    if logits is not None and groups.tp_rank == 0:
        difference = max_abs_difference(logits, transformers_logits(args.hf, batch), real)
        status = 0 if difference <= args.tolerance else 1
        verdict = "OK" if status == 0 else f"ABOVE the tolerance {args.tolerance:g}"
        print(f"tp={args.tp} pp={args.pp} spec={args.spec}: max |logit difference| = {difference:.3e} {verdict}")
    verdict = torch.tensor([status])
    dist.all_reduce(verdict, op=dist.ReduceOp.MAX)  # every rank exits with the reporting rank's status
    dist.destroy_process_group()
    return int(verdict.item())


if __name__ == "__main__":
    sys.exit(main())
