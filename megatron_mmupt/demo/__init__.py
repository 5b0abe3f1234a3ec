"""The embedded demo, in one place: everything here serves it, and nothing of a real run lives here.

* ``task/``: the demo task, rendered visual math with labels (``megatron-mmupt demo-data``);
* ``sft.py``: the SFT warm-up that makes the shipped base model (``tools/make_demo_model.py``);
* ``recipe.py``: the ``demo`` recipe (registered in ``megatron_mmupt.recipes``);
* ``main_job.py`` / ``report.py``: the README's main job (random vs label-free vs supervised reward, curves);
* ``synthesis_job.py``: the vote reward on questions the model wrote itself.

The tiny models of each family (``megatron_mmupt.models.tiny_*``) stay with the models: the tests of real code
(parity, weight sync, checkpoints, the rollout engines) build them too.
"""
