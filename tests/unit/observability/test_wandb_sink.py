"""wandb really runs: offline mode writes its run folder under the run dir, and a resume reuses the run id."""

import pytest

from megatron_mmupt.observability.logger import MetricsLogger
from megatron_mmupt.observability.wandb_sink import RUN_ID_FILE, resolve_mode


@pytest.fixture
def isolated_wandb(tmp_path, monkeypatch):
    """Keep every file wandb writes (settings, cache, artifacts) inside tmp_path; never reach the network."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_ENTITY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path


def test_auto_mode_is_online_only_with_an_api_key():
    assert resolve_mode("auto", {}) == "offline"
    assert resolve_mode("auto", {"WANDB_API_KEY": "x"}) == "online"
    assert resolve_mode("disabled", {"WANDB_API_KEY": "x"}) == "disabled"
    with pytest.raises(ValueError, match="choose one of: auto, online, offline, disabled"):
        resolve_mode("cloud", {})


@pytest.mark.slow  # two real wandb sessions (service start, finish, teardown): about 3 s here
def test_offline_run_is_written_under_the_run_dir(isolated_wandb):
    run_dir = isolated_wandb / "run"
    config = MetricsLogger.Config(console=False, plot=False, wandb=True, wandb_project="test")  # mode auto, no key
    with config.build(
        run_dir=run_dir, total_steps=2, run_config={"seed": 7, "algorithm": {"kl": {"coef": 0.01}}}
    ) as logger:
        logger.log(1, {"reward/mean": 0.25, "kl/mean": 0.001})
        logger.log(2, {"reward/mean": 0.5, "kl/mean": 0.002})
        folder = logger.wandb_run_dir
    run_id = (run_dir / RUN_ID_FILE).read_text().strip()
    assert (
        folder.parent == run_dir / "wandb" and folder.name.startswith("offline-run-") and folder.name.endswith(run_id)
    )
    # the run's record, what `wandb sync` uploads: protobuf records holding the config and the history
    record = (folder / f"run-{run_id}.wandb").read_bytes()
    assert b"seed" in record and b"coef" in record  # the run config was passed at init
    assert b"reward/mean" in record and b"kl/mean" in record

    with config.build(run_dir=run_dir, total_steps=3, resume_step=2) as resumed:
        resumed.log(3, {"reward/mean": 0.75})
        assert resumed.wandb_run_dir.name.endswith(run_id)  # same wandb run, continued
