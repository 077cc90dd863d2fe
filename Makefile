# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` is for trying the site on this machine: debug on, anonymous chat on.
RUN_ENV := DEBUG=$${DEBUG:-1}

.PHONY: run test test-scaleout lint format migrate bench bench-smoke bench-peers bench-profile clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.installed
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py seed_models

run: migrate
	@echo "Serving http://$(HOST):$(PORT) (Ctrl+C stops)"
	$(RUN_ENV) $(BIN)/daphne -b $(HOST) -p $(PORT) chatsite.asgi:application

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite on the embedded backends (SQLite, in-memory event log), then again on the
# scale-out ones (PostgreSQL, Redis) on 127.0.0.1. CI must have both services.
SCALEOUT_ENV := DATABASE_URL=$${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} CHAT_REDIS_PREFIX=chat-test-$$$$

test: lint
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-scaleout

test-scaleout: $(VENV)/.installed-dev
	@if $(BIN)/python -m tests.services || [ "$$CI" = "true" ]; then \
		echo "Again on PostgreSQL + Redis:"; \
		$(SCALEOUT_ENV) $(BIN)/python -m pytest --ignore=tests/browser \
			--ignore=tests/test_fake_upstream.py; \
	else \
		echo "Not running the PostgreSQL + Redis pass (CI runs it)."; \
	fi

# What the relay costs beside a direct connection to the same upstream (docs/benchmarks.md).
# A few minutes; rewrites the latest figures in docs/benchmarks.md and docs/bench-ttft.svg.
# DATABASE_URL=postgres://... runs it on PostgreSQL.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

# The same run for every server (daphne, uvicorn, granian) and LiteLLM's proxy, side by
# side (docs/benchmarks.md). Not in CI: LiteLLM goes into its own venv (several minutes the
# first time), and the run takes about 40 minutes.
PEERS_VENV := bench-results/peers-venv
$(PEERS_VENV)/.installed: bench/peers-requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/pip install --quiet -r bench/peers-requirements.txt
	touch $@

bench-peers: $(VENV)/.installed-dev $(PEERS_VENV)/.installed
	$(BIN)/python -m bench --peers --litellm $(PEERS_VENV)/bin/litellm

# Where the server's CPU goes relaying 1,000-token answers, under daphne and uvicorn
# (py-spy, from the peers venv); prints the top costs and keeps the raw stacks.
bench-profile: $(VENV)/.installed-dev $(PEERS_VENV)/.installed
	$(BIN)/python -m bench --arms daphne,uvicorn --phases profile --no-docs \
		--py-spy $(PEERS_VENV)/bin/py-spy

# Seconds: the same harness end to end with tiny numbers (tests/test_bench_smoke.py runs it too).
bench-smoke: $(VENV)/.installed-dev
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
