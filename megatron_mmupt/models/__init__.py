"""Hugging Face-side model definitions shared by the stages (the tiny demo Qwen2.5-VL)."""
