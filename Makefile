# Every target installs what it needs, so on a fresh clone `make synth` or `make test` alone does all set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
# Keep the CDK CLI and jsii offline and quiet: no version check, no telemetry, no notices, no EOL banner.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := npx --no-install cdk --no-notices

.PHONY: help install synth test lint review bench clean local local-reset

help: ## List the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed ## Create .venv and install pinned Python + npm deps (idempotent)

$(VENV)/.installed: requirements.txt requirements-dev.txt agent_src/requirements.txt lambdas/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# `npm ls` first: node_modules may be shared by several worktrees (a symlink), and `npm ci` would empty it.
node_modules/.installed: package.json package-lock.json
	npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install ## Synthesize every stage to cdk.out (offline: no AWS account, no Docker)
	rm -rf cdk.out
	$(PY) scripts/check_config.py cdk.json
	$(CDK) synth --quiet

test: install ## Lint the Python, then run the tests (templates, cfn-lint, cdk-nag, agent, tools)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: synth ## ruff + cfn-lint over every synthesized template
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint cdk.out/assembly-*/*.template.json --ignore-checks W3005

review: install ## Report of what will be deployed (BASE=<git ref>: and what changes; ALLOW_REPLACE=<ids>)
	$(PY) -m review --synth '$(MAKE) --no-print-directory synth' $(if $(BASE),--base '$(BASE)') $(if $(ALLOW_REPLACE),--allow-replace '$(ALLOW_REPLACE)')

bench: install ## Benchmarks (timings are measured here, never asserted in tests)
	$(PY) bench/bench_agent.py
	$(PY) bench/bench_agent_tools.py
	$(PY) bench/bench_lambdas.py
	$(PY) bench/bench_review.py
	$(PY) bench/bench_local.py

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .ruff_cache

# The local stage reads the dev stage's templates (environment contract, tables): re-synthesize only when what
# shapes them changed. Agent and handler code run from source, so editing them never waits for a synth.
LOCAL_SYNTH_SOURCES := app.py cdk.json $(shell find stacks policies -type f -name '*.py' 2>/dev/null) \
	$(wildcard lambdas/*/tools.json policies/*.cedar)
cdk.out/assembly-dev/manifest.json: $(LOCAL_SYNTH_SOURCES)
	$(MAKE) --no-print-directory synth STAGE=dev

local: install cdk.out/assembly-dev/manifest.json ## Run the dev stage on this machine (MODEL=bedrock|openai|scripted)
	@$(PY) -m local

local-reset: ## Forget the local stage's state (.local/: tables, memory, users, traces)
	@$(PY) -m local reset
