"""Save and resume training: Megatron dist-checkpoints of the actor, trainer state, RNG states, retention.

See ``docs/checkpoint.md``. Entry points (nothing is imported here, so that ``config`` stays importable without
Megatron-Core):

* ``config.CheckpointConfig``: the run's ``checkpoint`` section (``save_every``, ``keep_last``, ``directory``,
  ``hf_export_every``) and its decisions (``should_save``, ``should_export_hf``); ``config.hf_export_dir``.
* ``checkpointer.save_checkpoint`` / ``checkpointer.load_checkpoint``: collective, on every rank of the actor.
* ``pointer.find_latest(directory)``: the complete checkpoint a resume starts from, or ``None``.
* ``rng.capture_rng_state`` / ``rng.restore_rng_state``: for the driver's own generators.
"""
