# Every target installs what it needs, so on a fresh clone `make synth` or `make test` alone does all set-up.
# `make synth` installs only what synthesis needs (requirements.txt); test, lint and bench add the development
# dependencies (requirements-dev.txt) into the same .venv. Add a target with a `## text` comment to list it in
# `make help`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# Empty: every stage. `make synth STAGE=dev` builds and synthesizes that stage's constructs only.
STAGE ?=
# Empty: each stage builds its own agent image at deploy time. The pipeline passes its one build by digest
# (`IMAGE=<account>.dkr.ecr.<region>.amazonaws.com/<name>@sha256:<digest>`, stacks/agent_image.py).
IMAGE ?=
# Keep the CDK CLI and jsii offline and quiet: no version check, no telemetry, no notices, no EOL banner.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := npx --no-install cdk --no-notices

# --- Dependencies: uv (pinned) is bootstrapped into the venv by pip, then installs the requirements ------------
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
# uv reads no pip configuration: hand it pip's own indexes and find-links (pip.conf files and PIP_* variables,
# as `pip config list` shows them), and pip's rule of taking the best version across all of them.
uv_index_args = $(shell $(PY) -m pip config list 2>/dev/null \
	| sed -nE "s/^[^.]*\.(index-url|extra-index-url|find-links)='(.*)'$$/\1 \2/p" \
	| awk '{ for (i = 2; i <= NF; i++) print "--" $$1 " " $$i }' | awk '!seen[$$0]++ && !($$1 == "--index-url" && n++)')
UV_PIP_INSTALL = $(UV) pip install --quiet --compile-bytecode --python $(PY) --index-strategy unsafe-best-match $(uv_index_args)

UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
SYNTH_DEPS := $(VENV)/.synth-deps
DEV_DEPS := $(VENV)/.dev-deps
NODE_DEPS := node_modules/.installed

$(UV_STAMP):
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $@

$(SYNTH_DEPS): requirements.txt $(UV_STAMP)
	$(UV_PIP_INSTALL) -r requirements.txt
	touch $@

$(DEV_DEPS): requirements-dev.txt requirements.txt agent_src/requirements.txt lambdas/requirements.txt $(UV_STAMP)
	$(UV_PIP_INSTALL) -r requirements-dev.txt
	touch $@

# `npm ls` first: node_modules may be shared by several worktrees (a symlink), and `npm ci` would empty it.
$(NODE_DEPS): package.json package-lock.json
	npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund --loglevel=error
	touch $@

# --- Synthesis --------------------------------------------------------------------------------------------------
# '**' selects every stack of every stage: with no selector, `cdk synth` of an app whose stacks all sit in Stages
# selects none, and an error annotation in any stage passes silently.
SYNTH_STAMP := cdk.out/.synthesized-$(or $(STAGE),all)
SYNTH_SOURCES := app.py cdk.json requirements.txt package.json package-lock.json $(wildcard cdk.context.json) \
	$(shell find stacks agent_src lambdas policies -type f -not -path '*/__pycache__/*' 2>/dev/null)
SYNTH_COMMAND = $(CDK) synth --quiet '**' $(if $(STAGE),--context agentcore:stage=$(STAGE)) $(if $(IMAGE),--context agentcore:image=$(IMAGE))
# The configuration is checked before cdk.out is emptied: a typo in cdk.json keeps the last good assembly.
define synthesize
	$(PY) scripts/check_config.py cdk.json
	rm -rf cdk.out
	$(SYNTH_COMMAND)
	touch $(SYNTH_STAMP)
endef

# The exact synth command, for the test that it is a gate and for bench/bench_synth.py.
synth-command:
	@echo "$(SYNTH_COMMAND)"

$(SYNTH_STAMP): $(SYNTH_SOURCES) | $(SYNTH_DEPS) $(NODE_DEPS)
	$(synthesize)

# --- Targets ----------------------------------------------------------------------------------------------------
.PHONY: help install synth synth-command test lint review bench bench-record clean local local-reset

help: ## List the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: $(DEV_DEPS) $(NODE_DEPS) ## Create .venv and install every pinned Python + npm dependency (idempotent)

synth: $(SYNTH_DEPS) $(NODE_DEPS) ## Synthesize every stage to cdk.out (STAGE=dev: that stage only; offline)
	$(synthesize)

test: $(DEV_DEPS) $(NODE_DEPS) ## Lint the Python, then run the tests in parallel (one worker per core)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n auto

lint: $(SYNTH_STAMP) $(DEV_DEPS) ## ruff + cfn-lint over every synthesized template (synthesizes if stale)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint cdk.out/assembly-*/*.template.json --ignore-checks W3005

# The head is synthesized only when cdk.out is stale (like `make lint`); the base only when the review cache
# (review/synth_cache.py) does not hold that commit's assembly.
review: $(DEV_DEPS) $(NODE_DEPS) ## Report of what will be deployed (BASE=<git ref>: and what changes; ALLOW_REPLACE=<ids>)
	$(PY) -m review --synth '$(MAKE) --no-print-directory $(SYNTH_STAMP)' $(if $(BASE),--base '$(BASE)') $(if $(ALLOW_REPLACE),--allow-replace '$(ALLOW_REPLACE)')

# Benches that print their figures, and with --record also write docs/benchmarks/<name>.md; then print-only ones.
RECORDED_BENCHES := bench/bench_agent.py bench/bench_agent_tools.py bench/bench_lambdas.py bench/bench_review.py bench/bench_synth.py
BENCHES := $(RECORDED_BENCHES) bench/bench_turn_latency.py bench/bench_local.py bench/bench_token_budget.py bench/bench_suite.py \
	bench/bench_first_turn.py
# Every bench runs; one that missed a goal exits 3 (bench/reporting.py), and the target then fails after the
# last bench, unless EXPLORE=1 (figures and verdicts only). A bench that crashes stops the target at once.
define run_benches
	@missed=; for bench in $(1); do echo "== $$bench"; status=0; $(PY) $$bench $(2) || status=$$?; \
	  if [ $$status -eq 3 ]; then missed="$$missed $$bench"; elif [ $$status -ne 0 ]; then exit $$status; fi; \
	done; if [ -n "$$missed" ]; then echo "goals missed by:$$missed$(if $(EXPLORE), (EXPLORE=1: not a failure))"; \
	  $(if $(EXPLORE),true,exit 1); fi
endef

bench: $(DEV_DEPS) $(NODE_DEPS) ## Benchmarks: figures and each goal's verdict; fails on a missed goal (EXPLORE=1: not)
	$(call run_benches,$(BENCHES))

bench-record: $(DEV_DEPS) $(NODE_DEPS) ## Benchmarks, and write their figures into docs/benchmarks/*.md
	$(call run_benches,$(RECORDED_BENCHES),--record)

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .ruff_cache

# The local stage reads the dev stage's templates (environment contract, tables): re-synthesize only when what
# shapes them changed. Agent and handler code run from source, so editing them never waits for a synth.
LOCAL_SYNTH_SOURCES := app.py cdk.json $(shell find stacks policies -type f -name '*.py' 2>/dev/null) \
	$(wildcard lambdas/*/tools.json policies/*.cedar)
cdk.out/assembly-dev/manifest.json: $(LOCAL_SYNTH_SOURCES)
	$(MAKE) --no-print-directory synth STAGE=dev

# Ctrl-C ends the stage cleanly with 130: that is a normal end here, not a make error (bash goes on after a
# child that exits normally on SIGINT, so make sees 0 and prints no `Error 130`).
local: install cdk.out/assembly-dev/manifest.json ## Run the dev stage on this machine (MODEL=bedrock|openai|scripted)
	@$(PY) -m local || [ $$? -eq 130 ]

local-reset: ## Forget the local stage's state (.local/: tables, memory, users, traces)
	@$(PY) -m local reset

screenshots: install cdk.out/assembly-dev/manifest.json ## Retake the README's pictures of the chat page (docs/images/chat-*.png)
	@$(PY) -m webui.screenshots

# --- The agent image's lock (issue 22): every transitive dependency, with hashes, for linux/arm64 and the image's
# Python (AGENT_PYTHON: the base image's minor version, agent_src/Dockerfile). tests/agent/test_image_lock.py fails
# when agent_src/requirements.txt and the lock drift apart. Resolved from PyPI itself (no local indexes or wheel
# folders): the image build downloads from PyPI, so the hashes must be PyPI's files.
AGENT_PYTHON := 3.12
.PHONY: lock
lock: $(UV_STAMP) ## Re-lock the agent image's dependencies (agent_src/requirements.lock, hashes, linux/arm64)
	$(UV) pip compile agent_src/requirements.txt --quiet --generate-hashes --python-platform aarch64-manylinux_2_28 \
		--python-version $(AGENT_PYTHON) \
		--custom-compile-command 'make lock' -o agent_src/requirements.lock

# --- Preflight (issue 22): the stage's target account, checked before a deploy (also a pipeline step) ----------
.PHONY: preflight
preflight: $(DEV_DEPS) ## Check the target account of STAGE=<name> for known first-deploy failures (AWS credentials)
	@test -n "$(STAGE)" || { echo "make preflight: set STAGE=<name> (a stage of cdk.json)" >&2; exit 2; }
	@$(PY) scripts/preflight.py --stage $(STAGE)
