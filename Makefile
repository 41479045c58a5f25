# Image resize service. `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: help install system-packages run test test-unit bench lint format compose-check kube-check check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The virtualenv is rebuilt only when pyproject.toml changes.
# Debian's python3 makes a venv only with python3-venv installed.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) 2> /dev/null \
		|| { scripts/debian-packages.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(INSTALLED) ## create .venv and install the project with its dev tools

run: $(INSTALLED) ## run the API and one worker (a private RabbitMQ if none answers at AMQP_URL)
	@scripts/run.sh

# The fault tests start private RabbitMQ and PostgreSQL nodes, so both are needed even where
# shared ones answer; the browser tests drive Debian's Chromium.
system-packages: ## install the Debian packages the tests need (RabbitMQ, PostgreSQL, Chromium) when missing
	@scripts/debian-packages.sh rabbitmq-server postgresql chromium

test: $(INSTALLED) system-packages ## every test, against TEST_AMQP_URL and TEST_POSTGRES_URL (private ones if none answers)
	@scripts/test.sh

test-unit: $(INSTALLED) ## run the unit tests only (no broker, seconds)
	$(PY) -m pytest tests/unit

bench: $(INSTALLED) ## measure the service, API, broker and memory (docs/benchmarks.md; BENCH_ARGS="--smoke")
	$(PY) -m bench $(BENCH_ARGS)

lint: $(INSTALLED) ## ruff (lint and format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(INSTALLED) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Debian's docker-compose (v1) only parses the files here: no Docker engine is needed.
compose-check: $(INSTALLED) ## validate compose.yaml with docker-compose and test its invariants
	@command -v docker-compose > /dev/null || scripts/debian-packages.sh docker-compose
	docker-compose --env-file .env.example -f compose.yaml config --quiet
	docker-compose --env-file .env.example -f compose.yaml --profile postgres config --quiet
	docker-compose --env-file .env.example -f compose.yaml --profile postgres --profile s3 config --quiet
	$(PY) -m pytest tests/unit/test_compose.py

# kubectl (its kustomize) and the Kubernetes schemas are dev tools from PyPI: no cluster needed.
kube-check: $(INSTALLED) ## render deploy/kubernetes and its overlay, validate them (Kubernetes 1.30), test their invariants
	$(PY) -m pytest tests/unit/test_kubernetes.py

check: lint compose-check kube-check test ## everything CI runs

clean: ## remove the virtualenv, caches and local data
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data .run test-artifacts
