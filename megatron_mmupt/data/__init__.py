"""The data stage: dataset rows -> ``PromptBatch`` (loading, images, prompts, 3-D rope ids, sampling)."""
