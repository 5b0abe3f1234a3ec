"""Who holds the GPUs when: in a colocated run the engines while they generate, the actor while it trains.

    GpuSharing.make_room(actor, colocated=True, offload_actor=True)  # before the engines launch (KV pool sizing)
    gpus = GpuSharing(actor=actor, rollout=rollout, weights=weight_sync, colocated=True, offload_actor=True)
    gpus.start()                        # the engines hold their memory from launch; the actor's state is out
    groups = rollout.generate(...)      # engines: weights + KV cache; actor: nothing on the GPU
    gpus.to_training()                  # engines release everything; the actor's state comes back
    ... log-probs, updates, checkpoint ...
    metrics = gpus.sync(version=step)   # optimizer + grads out, engine weights in, push, actor weights out, KV in

The actor leaves its GPUs before the engines launch, because SGLang sizes its KV cache pool at launch from the
memory it finds free (``make_room``); a resumed run brings it back to load the checkpoint (``to_training``) and
syncs. The sync is ordered so that at most one copy of the weights joins the training state on a GPU: the actor's
optimizer state and gradients leave before the engines take their weight memory back, and the KV cache returns
only after the actor's weights have left. Disaggregated runs (and runs without GPUs) share nothing, so every
call but ``sync``'s push does nothing: the loop reads the same either way.
"""

from __future__ import annotations

from megatron_mmupt.actor.group import ActorGroup
from megatron_mmupt.actor.megatron.offload import StateGroup
from megatron_mmupt.bridge.sync import WeightSync
from megatron_mmupt.rollout.engine import MemoryTag, RolloutEngine

GIB = 1 << 30


class GpuSharing:
    def __init__(
        self, *, actor: ActorGroup, rollout: RolloutEngine, weights: WeightSync, colocated: bool, offload_actor: bool
    ) -> None:
        self.actor, self.rollout, self.weights = actor, rollout, weights
        self.colocated, self.offload_actor = colocated, colocated and offload_actor
        self._freed = 0
        self._actor_out = False  # the actor's state is off its GPUs

    @staticmethod
    def make_room(actor: ActorGroup, *, colocated: bool, offload_actor: bool) -> int:
        """Before the engines launch: the actor's whole state leaves its GPUs; returns the bytes freed per rank."""
        return actor.offload([g.value for g in StateGroup]) if colocated and offload_actor else 0

    def adopt_offloaded(self, freed: int) -> None:
        """``make_room`` ran before this object existed (``freed`` bytes): the actor starts out of its GPUs."""
        self._freed, self._actor_out = freed, self.offload_actor and freed > 0

    def start(self) -> None:
        """Before the first rollout (the engines launched holding their memory)."""
        if self.offload_actor and not self._actor_out:
            self._freed, self._actor_out = self.actor.offload([g.value for g in StateGroup]), True

    def to_training(self) -> None:
        """After a rollout (or before a checkpoint loads): the engines let go, the actor comes back."""
        if not self.colocated:
            return
        self.rollout.release_memory_occupation()
        if self._actor_out:
            self.actor.onload()
            self._actor_out = False

    def sync(self, *, version: int) -> dict[str, float]:
        """The actor's weights into the engines, leaving the engines ready to generate; returns metrics."""
        if not self.colocated:
            return self.weights.sync(version=version)
        if self.offload_actor:
            self._freed = self.actor.offload([StateGroup.OPTIMIZER.value, StateGroup.GRADS.value])
        self.rollout.resume_memory_occupation([MemoryTag.WEIGHTS])
        metrics = self.weights.sync(version=version)
        if self.offload_actor:
            self._freed += self.actor.offload([StateGroup.WEIGHTS.value])
            self._actor_out = True
        self.rollout.resume_memory_occupation([MemoryTag.KV_CACHE, MemoryTag.CUDA_GRAPH])
        return metrics | {"memory/actor_offloaded_gib": self._freed / GIB}  # per rank, with the KL reference
