"""The environment one actor rank joins its process group with (torch.distributed's ``env://`` variables).

Ray starts each rank in its own process and sets ``CUDA_VISIBLE_DEVICES`` to the GPU of its placement bundle
(``run_placement``), so a rank on a GPU sees exactly one device: its ``LOCAL_RANK`` is 0, whatever its node
position. The master is rank 0's node address as Ray reports it (never loopback: the ranks of other nodes
connect to it).
"""

from __future__ import annotations


def rank_environment(*, master: tuple[str, int], rank: int, world_size: int, gpu_ids: list[str]) -> dict[str, str]:
    """``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` of actor rank ``rank``."""
    return {
        "MASTER_ADDR": master[0],
        "MASTER_PORT": str(master[1]),
        "RANK": str(rank),
        "WORLD_SIZE": str(world_size),
        "LOCAL_RANK": "0" if gpu_ids else str(rank),
    }


def master_address() -> tuple[str, int]:
    """This node's address as Ray sees it and a free port on it (called in rank 0's process)."""
    import socket

    import ray

    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    return ray.util.get_node_ip_address(), port
