# The only entry point for set-up, demo, tests and benchmarks (.ci/run calls `make test`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench bench-quick install browser postgres espeak npm-tools django-connector lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) django-connector

## The main job: an instance on SQLite plus a local runner transcoding a generated clip.
demo: $(STAMP)
	$(BIN)/offload demo

## The whole test suite. pytest's exit code is kept: 5 (no tests ran) fails the build.
test: $(STAMP) browser postgres espeak npm-tools django-connector
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## Debian's chromium for the browser tests (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will skip (or fail under CI)"; }

## PostgreSQL server binaries for the throwaway test cluster (initdb/pg_ctl), from Debian.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian postgresql for the PostgreSQL tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	  || echo "WARNING: could not install postgresql; PostgreSQL tests will skip (or fail under CI)"; }

## Debian's espeak-ng: real speech for the transcription tests (Whisper must hear words).
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  echo "installing Debian espeak-ng for the transcription tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null) \
	  || echo "WARNING: could not install espeak-ng; transcription tests will skip (or fail under CI)"; }

## PeerTube's own command-line client, pinned in tools/npm (package-lock.json), for the
## interoperability tests.
npm-tools:
	@command -v npm >/dev/null 2>&1 || { echo "WARNING: npm is missing; peertube-cli tests will skip (or fail under OFFLOAD_REQUIRE_NPM=1)"; exit 0; }; \
	  npm ci --prefix tools/npm --no-audit --no-fund --silent \
	  || echo "WARNING: could not install tools/npm; peertube-cli tests will skip (or fail under OFFLOAD_REQUIRE_NPM=1)"

## openfun's django-peertube-runner-connector, pinned in tools/django-connector/requirements.txt,
## in a venv of its own (it pins websockets<14, below what Offload's instance gets), plus
## Debian's ffmpeg for the ffprobe it calls: for tests/interop/test_django_connector.py.
CONNECTOR_DIR := tools/django-connector
CONNECTOR_STAMP := $(CONNECTOR_DIR)/.venv/.installed
django-connector:
	@test $(CONNECTOR_STAMP) -nt $(CONNECTOR_DIR)/requirements.txt || { \
	  echo "installing django-peertube-runner-connector into $(CONNECTOR_DIR)/.venv"; \
	  ($(PYTHON) -m venv $(CONNECTOR_DIR)/.venv \
	   && $(CONNECTOR_DIR)/.venv/bin/pip install --quiet -r $(CONNECTOR_DIR)/requirements.txt \
	   && touch $(CONNECTOR_STAMP)) \
	  || echo "WARNING: could not install the connector; its test will skip (or fail under CI)"; }
	@command -v ffprobe >/dev/null 2>&1 || { \
	  echo "installing Debian ffmpeg (ffprobe) for the django-peertube-runner-connector test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null) \
	  || echo "WARNING: could not install ffprobe; the connector test will skip (or fail under CI)"; }

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) offload-data .pytest_cache

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
