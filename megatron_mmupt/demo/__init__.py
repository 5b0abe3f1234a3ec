"""The README main job: label-free vs supervised training of the demo model, before/after held-out accuracy."""
