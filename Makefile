# The two commands of the README: `make demo` (the main job) and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-synthesis score-sample test check-scripts lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Main job: held-out curves of the demo model under label-free training (vote reward, no labels), beside a
# random-reward control and the supervised-reward baseline, for seed 1 (13.4 minutes on 2 cores; SEEDS=1,2,3,4 for
# the seeds' spread, about 12 minutes a seed more); writes runs/demo/summary.{json,md,png}; a rerun reuses the unchanged
# finished runs in runs/demo (SEEDS=1,2 after SEEDS=1 trains only seed 2).
SEEDS ?= 1
demo: $(STAMP)
	$(BIN)/megatron-mmupt demo --seeds $(SEEDS) --out runs/demo

# MM-UPT's second result in miniature: the vote reward on questions the model wrote itself (in context and
# directly) vs on the original questions, over seeds 1 and 2; writes runs/demo-synthesis/summary.{json,md,png}.
SYNTHESIS_SEEDS ?= 1,2
demo-synthesis: $(STAMP)
	$(BIN)/megatron-mmupt demo --synthesis --seeds $(SYNTHESIS_SEEDS) --out runs/demo-synthesis

# The reward stage alone: score the shipped sample of model responses with the MM-UPT vote reward and with
# the reference implementation's exact reward.
score-sample: $(STAMP)
	$(BIN)/megatron-mmupt score --input examples/data/sample_responses.jsonl --output runs/score/scored.jsonl
	@echo
	$(BIN)/megatron-mmupt score --input examples/data/sample_responses.jsonl --output runs/score/scored_reference.jsonl --mode reference

# SGLang 0.5.23's server code for the SGLang-real tests, without its dependencies (CUDA torch, kernels), in its own
# folder that only the tests' subprocesses put on their path (requirements-sglang.txt). Cached with the venv.
SGLANG_SITE := $(VENV)/sglang-site
$(SGLANG_SITE)/.installed: requirements-sglang.txt | $(STAMP)
	rm -rf $(SGLANG_SITE)
	$(BIN)/python -m pip install --quiet --no-deps --target $(SGLANG_SITE) -r requirements-sglang.txt
	touch $@

test: $(STAMP) $(SGLANG_SITE)/.installed check-scripts
	$(BIN)/ruff check megatron_mmupt tests tools
	$(BIN)/python -m pytest -q -n 2 tests

# Static checks of the deployment files: the example scripts (shellcheck, following what they source) and
# the Dockerfiles (hadolint). Both tools come as pinned wheels in requirements-dev.txt.
SHELL_SCRIPTS := $(shell find examples .ci -type f \( -name '*.sh' -o -name '*.sbatch' -o -name run \) | sort)
check-scripts: $(STAMP)
	$(BIN)/shellcheck --external-sources $(SHELL_SCRIPTS)
	$(BIN)/hadolint docker/Dockerfile.cpu docker/Dockerfile.gpu

lint: $(STAMP)
	$(BIN)/ruff check megatron_mmupt tests tools
	$(BIN)/ruff format --check megatron_mmupt tests tools

bench: $(STAMP)
	$(BIN)/python tools/bench_reward.py
	$(BIN)/python tools/compare_graders.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
