"""Who holds a colocated GPU when: the order of offloads, releases and the sync (``trainer/gpu_sharing.py``).

The actor, engines and sync are recorders: what is checked is the choreography, in which order each piece
gives its memory up and takes it back. (The real offload is checked bit for bit in
``tests/distributed/test_weight_sync.py``, the engines' release in ``tests/unit/rollout``.)
"""

import pytest

from megatron_mmupt.trainer.gpu_sharing import GpuSharing

ALL = ["weights", "grads", "optimizer"]


class Recorder:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def offload(self, groups):
        self.log.append((self.name, "offload", tuple(groups)))
        return 100

    def onload(self):
        self.log.append((self.name, "onload"))
        return 100

    def release_memory_occupation(self, tags=None):
        self.log.append((self.name, "release", tags))

    def resume_memory_occupation(self, tags=None):
        self.log.append((self.name, "resume", tuple(t.value for t in tags)))

    def sync(self, *, version):
        self.log.append((self.name, "push", version))
        return {"sync/bytes": 1.0}


def sharing(colocated=True, offload_actor=True, made_room=True):
    log = []
    actor = Recorder(log, "actor")
    freed = GpuSharing.make_room(actor, colocated=colocated, offload_actor=offload_actor) if made_room else 0
    gpus = GpuSharing(actor=actor, rollout=Recorder(log, "engines"), weights=Recorder(log, "sync"),
                      colocated=colocated, offload_actor=offload_actor)  # fmt: skip
    gpus.adopt_offloaded(freed)
    return gpus, log


def test_a_colocated_step_moves_one_copy_of_the_weights_at_a_time():
    gpus, log = sharing()
    assert log == [("actor", "offload", tuple(ALL))]  # before the engines launch and size their KV pool
    gpus.start()
    gpus.to_training()
    metrics = gpus.sync(version=1)
    assert log[1:] == [
        ("engines", "release", None), ("actor", "onload"),  # the actor trains on the whole GPU
        ("actor", "offload", ("optimizer", "grads")), ("engines", "resume", ("weights",)),
        ("sync", "push", 1),  # both copies of the weights, nothing else
        ("actor", "offload", ("weights",)), ("engines", "resume", ("kv_cache", "cuda_graph")),
    ]  # fmt: skip
    assert metrics["sync/bytes"] == 1.0 and metrics["memory/actor_offloaded_gib"] == pytest.approx(200 / (1 << 30))


def test_a_resumed_run_brings_the_actor_back_before_loading():
    gpus, log = sharing()
    gpus.to_training()  # train.py, before checkpoints.restore
    gpus.sync(version=5)
    assert log[1:3] == [("engines", "release", None), ("actor", "onload")]
    assert log[-2:] == [("actor", "offload", ("weights",)), ("engines", "resume", ("kv_cache", "cuda_graph"))]


def test_start_offloads_when_no_room_was_made():
    gpus, log = sharing(made_room=False)
    gpus.start()
    gpus.start()
    assert log == [("actor", "offload", tuple(ALL))]


def test_without_offload_the_actor_stays_and_only_the_engines_move():
    gpus, log = sharing(offload_actor=False)
    gpus.start()
    gpus.to_training()
    gpus.sync(version=1)
    assert [entry for entry in log if entry[0] == "actor"] == []
    assert log == [("engines", "release", None), ("engines", "resume", ("weights",)), ("sync", "push", 1),
                   ("engines", "resume", ("kv_cache", "cuda_graph"))]  # fmt: skip


def test_disaggregated_runs_share_nothing():
    gpus, log = sharing(colocated=False)
    gpus.start()
    gpus.to_training()
    assert gpus.sync(version=3) == {"sync/bytes": 1.0}
    assert log == [("sync", "push", 3)]
