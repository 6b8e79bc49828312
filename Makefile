# Touchpoint — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FLASK := $(VENV)/bin/flask --app wsgi
STAMP := $(VENV)/.installed
DEBS := chromium prometheus
APT_STAMP := $(VENV)/.apt-installed

.PHONY: install system-deps demo test test-all test-fast lint migrate seed clean bench-deps tracker-wheel

install: $(STAMP) $(APT_STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian packages the tests need (Chromium for the browser test, Prometheus and promtool for
# the metrics tests). Idempotent; needs root.
$(APT_STAMP): Makefile
	@mkdir -p $(VENV)
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
	@touch $(APT_STAMP)

# The demo needs the Python packages only: no browser, no Prometheus, no root.
demo: $(STAMP)
	$(PY) scripts/demo.py

# Slow suites (the 5,000-case fuzzing) run where CI=true, as on CI, and in `make test-all`.
SLOW := $(if $(filter true 1 yes,$(CI)),,-m "not slow")
# The tests run in one process per core (pytest-xdist): most of their time is spent waiting
# on servers they started (gunicorn, localstripe, Prometheus, Chromium), so two processes on
# 2 cores take 7 minutes where one took 11. Each process has its own PostgreSQL database,
# localstripe and ports. JOBS=0: one process, as before (for pdb, or -x).
# At most 4: each process runs servers with their own database connections, and a shared
# PostgreSQL allows 100 by default.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
XDIST := -n $(JOBS) --dist worksteal

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(XDIST) $(SLOW) $(PYTEST_ARGS)

test-all: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The quick loop: SQLite only, no browser.
test-fast: install
	$(PY) -m pytest $(XDIST) -m "not e2e" --db sqlite $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

migrate: install
	$(FLASK) db upgrade

seed: install
	$(FLASK) seed

# What benchmarks/ needs beyond the tests: prometheus-flask-exporter, py-spy, wrk and valgrind.
bench-deps: install
	$(PIP) install --quiet -e '.[bench]'
	@missing=""; for p in wrk valgrind; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# The journey tracker alone, for another Flask shop: dist/touchpoint_tracking-*.whl (only
# `tracking`, and only Flask, SQLAlchemy, marshmallow and prometheus-client). Built from a
# copy, so no build/ or egg-info lands in the package's own folder.
tracker-wheel: install
	@tmp=$$(mktemp -d) && cp -r tracking "$$tmp/" && rm -rf "$$tmp/tracking/__pycache__" && \
	$(PIP) wheel --quiet --no-deps --no-build-isolation -w dist "$$tmp/tracking"; \
	status=$$?; rm -rf "$$tmp"; exit $$status
	@ls dist/touchpoint_tracking-*.whl

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts .demo
