"""The command line: a frozen surface (new knobs go into typed configs), and each command end to end."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from megatron_mmupt.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "data" / "sample_responses.jsonl"

# Adding a flag is a design decision: put the knob in a Config class, or update this list on purpose.
FROZEN_SURFACE = {
    "": ["--version", "-h", "--help"],
    "config": ["--recipe", "-h", "--help"],
    "train": ["--dry-run", "--gpus-per-node", "--nodes", "--recipe", "--resume", "--stage-times", "-h", "--help"],
    "demo": ["--out", "--seeds", "--synthesis", "-h", "--help"],
    "demo-data": ["--num-test", "--num-train", "--out", "--seed", "-h", "--help"],
    "score": ["--input", "--mode", "--output", "--recipe", "-h", "--help"],
    "serve": ["--host", "--model", "--model-path", "--port", "-h", "--help"],
    "convert": ["-h", "--help"],
    "convert hf-to-mcore": ["--hf", "--out", "--pp", "--tp", "-h", "--help"],
    "convert mcore-to-hf": ["--ckpt", "--out", "-h", "--help"],
    "synthesize": ["--data", "--method", "--model", "--out", "--preset", "-h", "--help"],
    "eval": ["--benchmark", "--model", "--out", "-h", "--help"],
}


def surface(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, list[str]]:
    """Options of the parser and of every (nested) subcommand, keyed by the command path ("convert hf-to-mcore")."""
    result = {prefix: sorted(o for a in parser._actions for o in a.option_strings)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                result.update(surface(sub, f"{prefix} {name}".strip()))
    return result


def test_cli_surface_is_frozen():
    assert surface(build_parser()) == {k: sorted(v) for k, v in FROZEN_SURFACE.items()}


def test_score_the_shipped_sample(tmp_path, capsys):
    out = tmp_path / "scored.jsonl"
    assert main(["score", "--input", str(SAMPLE), "--output", str(out), "reward.vote.min_vote_share=0.3"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(SAMPLE.read_text().splitlines())
    assert all({"extracted", "pseudo_label", "reward", "vote_share", "correct"} <= set(r) for r in rows)
    printed = capsys.readouterr().out
    assert "reward mode 'majority': 34 prompts, 340 responses (G = 10)" in printed
    assert "pseudo-label accuracy" in printed
    config = json.loads((tmp_path / "scored.jsonl.config.json").read_text())
    assert config["reward"]["vote"]["min_vote_share"] == 0.3


def test_mode_flag_and_override_form(tmp_path):
    out = tmp_path / "s.jsonl"
    assert main(["score", "--input", str(SAMPLE), "--output", str(out), "--mode", "vote_share"]) == 0
    config = json.loads((tmp_path / "s.jsonl.config.json").read_text())
    assert config["reward"]["mode"] == "vote_share"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reward.mdoe=x"], "unknown config key 'reward.mdoe'; did you mean: reward.mode"),
        (["--mode", "best"], "mode='best' is not valid"),
        (["--recipe", "nope"], "unknown recipe 'nope'"),
    ],
)
def test_bad_config_fails_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "s.jsonl"
    assert main(["score", "--input", str(tmp_path / "missing.jsonl"), "--output", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt_id": 1, "response": "x"}\n{"prompt_id": 2}\n')
    assert main(["score", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "bad.jsonl:2: missing required field 'response'" in capsys.readouterr().err


def test_unknown_flags_are_usage_errors():
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--input", "a", "--output", "b", "--verbose"])
    assert exit_info.value.code == 2


def test_config_command_prints_the_resolved_config(capsys):
    assert main(["config", "--recipe", "qwen2_5_vl_7b_mmr1", "reward.mode=vote_share"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["name"] == "qwen2_5_vl_7b_mmr1" and config["reward"]["mode"] == "vote_share"


def test_console_script_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "megatron_mmupt.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("megatron-mmupt ")


def test_python_dash_m_package_is_the_console_script():
    """``python -m megatron_mmupt`` runs ``cli.main``: the same prog name, output and exit codes."""
    run = lambda *args: subprocess.run([sys.executable, "-m", "megatron_mmupt", *args], capture_output=True, text=True)  # noqa: E731
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("megatron-mmupt ")
    usage = run("--help")
    assert usage.returncode == 0 and usage.stdout.startswith("usage: megatron-mmupt ")
    bad = run("no-such-command")
    assert bad.returncode == 2 and "megatron-mmupt: error: argument COMMAND: invalid choice" in bad.stderr
