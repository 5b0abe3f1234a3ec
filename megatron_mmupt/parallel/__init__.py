"""Parallel layout: degrees, their validation against the model, and process-group set-up."""
