# feedloop: `make run` runs the platform locally, `make test` runs every check. `make help` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.local/uv/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
TEST_KAFKA_PORT ?= 19092
# BROKERS=3: kafka-up/kafka-down run a three-node cluster on 9092-9094 (make run reaches it through
# 9092), test-kafka-up also starts the test cluster on TEST_CLUSTER_PORT..+2 (tests/cluster).
BROKERS ?= 1
TEST_CLUSTER_PORT ?= 29492
export FEEDLOOP_TEST_KAFKA ?= 127.0.0.1:$(TEST_KAFKA_PORT)

.PHONY: help install kafka-up kafka-down kafka-reset test-kafka-up test-kafka-down run test lint format typecheck \
        contracts pytest bench bench-ingest bench-enrich bench-prioritize bench-notify bench-e2e demo \
        k8s-validate postgres promtool clean test-fast check-packages \
        contracts-tools contracts-check contracts-release chromium screenshots bench-console \
        test-cluster-up test-cluster-down test-cluster

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(UV):
	@echo "installing uv $(UV_VERSION) from PyPI into .local/uv"
	python3 -m venv .local/uv && .local/uv/bin/pip install -q "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)
	$(UV) sync --locked --all-packages
	@touch $@

install: $(VENV)/.synced ## Install every package and dev tool into .venv (idempotent, cached)

kafka-up: install ## Start the local Kafka broker (127.0.0.1:9092) and create the topics; BROKERS=3: a 3-node cluster
	BROKERS=$(BROKERS) KAFKA_PORT=9092 scripts/kafka.sh up

kafka-down: ## Stop the local Kafka broker (BROKERS=3: the local cluster)
	BROKERS=$(BROKERS) KAFKA_PORT=9092 scripts/kafka.sh down

kafka-reset: install ## Stop the local broker, wipe its data, format it afresh and start it (all records lost)
	scripts/kafka.sh reset

test-kafka-up: install ## Start the test broker (127.0.0.1:$(TEST_KAFKA_PORT)); BROKERS=3: the test cluster too
	KAFKA_PORT=$(TEST_KAFKA_PORT) scripts/kafka.sh up
	@if [ "$(BROKERS)" = 3 ]; then $(MAKE) --no-print-directory test-cluster-up; fi

test-cluster-up: install ## Start the three-node test cluster (127.0.0.1:$(TEST_CLUSTER_PORT)-+2, replicas 3, min.insync 2)
	BROKERS=3 KAFKA_PORT=$(TEST_CLUSTER_PORT) KAFKA_PARTITIONS=3 scripts/kafka.sh up

test-cluster-down: ## Stop the three-node test cluster
	BROKERS=3 KAFKA_PORT=$(TEST_CLUSTER_PORT) scripts/kafka.sh down

test-cluster: test-cluster-up ## Every broker-loss fault test on the test cluster (6-14 min); prints what each measured
	FEEDLOOP_TEST_CLUSTER=all FEEDLOOP_TEST_CLUSTER_PORT=$(TEST_CLUSTER_PORT) $(VENV)/bin/pytest -q -s -m cluster tests/cluster

test-kafka-down: ## Stop the test broker
	KAFKA_PORT=$(TEST_KAFKA_PORT) scripts/kafka.sh down

run: kafka-up ## Run the whole platform locally until Ctrl-C; names the service that died, if one did
	$(PY) -m scripts.run_local -f Procfile

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install ## mypy (strict on libs/common)
	$(VENV)/bin/mypy libs/common/src services/*/src tools/*/src

contracts: install ## Regenerate docs/events (JSON Schema + AsyncAPI) and docs/openapi
	$(PY) scripts/gen_contracts.py

# The validators downstream teams use, pinned by tools/contracts/package-lock.json (npm ci, no
# install scripts, no browser download); their analytics and update checks are off (offline).
CONTRACT_TOOLS := tools/contracts
CONTRACT_ENV := ASYNCAPI_METRICS_CONFIG_PATH=$(CURDIR)/$(CONTRACT_TOOLS)/asyncapi-analytics.json \
	ASYNCAPI_SKIP_NEW_VERSION_CHECK=true REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	PUPPETEER_SKIP_DOWNLOAD=true NO_UPDATE_NOTIFIER=1
$(CONTRACT_TOOLS)/node_modules/.installed: $(CONTRACT_TOOLS)/package.json $(CONTRACT_TOOLS)/package-lock.json
	cd $(CONTRACT_TOOLS) && $(CONTRACT_ENV) npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

contracts-tools: $(CONTRACT_TOOLS)/node_modules/.installed ## Install the AsyncAPI and Redocly CLIs from tools/contracts' lock (npm ci; idempotent, cached)

contracts-check: install contracts-tools ## Validate docs/events and docs/openapi (AsyncAPI CLI, Redocly, openapi-spec-validator, check-jsonschema) and their compatibility with docs/events/released
	$(VENV)/bin/openapi-spec-validator docs/openapi/*.json
	$(VENV)/bin/check-jsonschema --check-metaschema docs/events/schemas/*.json docs/events/released/events/*.json
	$(CONTRACT_ENV) $(CONTRACT_TOOLS)/node_modules/.bin/asyncapi validate docs/events/asyncapi.yaml --fail-severity warn
	$(CONTRACT_ENV) $(CONTRACT_TOOLS)/node_modules/.bin/redocly lint --extends recommended --format stylish docs/openapi/*.json
	$(PY) -m scripts.contract_compat

contracts-release: install ## Record the current contracts as released (docs/events/released): what consumers are promised
	$(PY) -m scripts.contract_compat --release

chromium: ## Install Debian's headless Chromium if missing (/usr/bin/chromium) and axe-core (npm ci, locked): the browser tests use both
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	@test services/console/node_modules/.ci-done -nt services/console/package-lock.json || \
	  (cd services/console && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.ci-done)

pytest: install postgres promtool chromium test-kafka-up ## Run the test suite against the real test broker
	$(VENV)/bin/pytest --durations=25

test: lint typecheck check-packages contracts-check pytest ## Install everything, then ruff, mypy, each package alone, contract validators and pytest

# Folders whose every test needs the broker or is slow (tests/test_markers.py checks it): not even
# collected by test-fast, which saves a third of its time.
BROKER_ONLY_TEST_DIRS := tests/e2e tests/faults tests/fuzz tests/cluster tests/reprocess

test-fast: install postgres promtool ## The tests that need no broker and are not slow (under a minute)
	$(VENV)/bin/pytest -q -m "not kafka and not slow" $(addprefix --ignore=,$(BROKER_ONLY_TEST_DIRS))

# Each member synced alone into .local/packages/<member> from the lock, without the dev tools:
# its app and console scripts must import with nothing but its own declared dependencies.
check-packages: $(UV) ## Sync each package alone (uv sync --locked --no-dev --package X) and import its app
	@set -e; for dir in libs/common services/*/ tools/cli; do \
	  name=$$(basename $$dir); venv=.local/packages/$$name; \
	  echo "check-packages: feedloop-$$name -> $$venv"; \
	  UV_PROJECT_ENVIRONMENT=$$venv $(UV) sync -q --locked --no-dev --package feedloop-$$name; \
	  if [ -f $$dir/src/feedloop/$$name/app.py ]; then $$venv/bin/python -c "import feedloop.$$name.app"; \
	  else $$venv/bin/python -c "import feedloop.$$name"; fi; \
	  if [ $$name != common ]; then PATH=$$PWD/$$venv/bin:$$PATH $$venv/bin/python \
	    deploy/docker/check_image.py --package feedloop-$$name \
	    --command $$([ $$name = cli ] && echo feedloop || echo feedloop-$$name); fi; \
	done

bench-ingest: install kafka-up ## Ingest single/batch POSTs beside a no-op FastAPI and Kafka's ProducerPerformance (items/s, p50/p99/p99.9, CPU per item), paced 500/s and 50 %; RSS under a key flood
	$(PY) -m benchmarks.bench_ingest

bench-enrich: install kafka-up ## Enrich CPU s/1k items: stage, batched ceiling, naive loop, v1 models; RSS, p99 (normal and hostile items), invariance
	$(PY) -m benchmarks.bench_enrich

bench-notify: install kafka-up ## Notify notifications/s and CPU/message beside a bare client loop (ARGS="--profile DIR --dkim 500")
	$(PY) -m benchmarks.bench_notify $(ARGS)

bench-e2e: install kafka-up ## End-to-end: each stage's rate (names the bottleneck), a burst, and POST->enriched/prioritized latency paced at 50 % and 90 % of the maximum
	$(PY) -m benchmarks.bench_e2e

demo: install ## Play the apparel-shop story through the running platform (start `make run` first)
	$(PY) -m scripts.demo.run

bench-console: install test-kafka-up ## Console overview (whole page) over 100,000 feedback items, beside the KPI calls it makes
	$(PY) -m services.console.tests.bench_overview 100000

screenshots: install chromium test-kafka-up ## PNGs of every console page (1280 px and phone) into docs/screenshots, from the seeded loop
	$(PY) -m services.console.tests.screenshots docs/screenshots

bench-prioritize: install kafka-up ## Prioritize stage items/s on SQLite and PostgreSQL, p99 latency
	$(PY) -m benchmarks.bench_prioritize

k8s-validate: install promtool ## Render the deploy/k8s overlays and validate them (no cluster needed)
	PYTEST=$(VENV)/bin/pytest scripts/k8s-validate.sh

postgres: ## Install the PostgreSQL server from Debian's packages if missing (tests start their own)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)

promtool: ## Install promtool (Debian's prometheus package) if missing: the alerts' unit tests run it
	@command -v promtool >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq prometheus)

bench: bench-ingest bench-enrich bench-prioritize bench-notify bench-e2e ## Run every benchmark and print the figures

clean: kafka-down test-kafka-down test-cluster-down ## Stop brokers and remove local data
	rm -rf .local/kafka-* $(VENV)
