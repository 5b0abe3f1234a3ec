"""The RL loop's supporting pieces: input checks, the run directory, one step's batch preparation and metrics."""
