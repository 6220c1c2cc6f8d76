# Two commands set up everything from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
CHROMIUM := /usr/bin/chromium

TIER ?= demo

.PHONY: run test test-fast lint migrate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

# Debian's Chromium for the browser tests; Playwright's own browser download is never used.
$(CHROMIUM):
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is missing: install Debian's chromium package (apt-get install chromium) to run the browser tests."; \
	fi

# Demo data is on unless PORTAL_DEMO=0; it fills an empty database only.
run: $(VENV)/.installed
	$(BIN)/python -m portal migrate
	@if [ "$${PORTAL_DEMO:-1}" != "0" ]; then PORTAL_DEMO=1 $(BIN)/python -m portal load-demo; fi
	PORTAL_DEMO=$${PORTAL_DEMO:-1} $(BIN)/streamlit run serve.py --server.address=localhost --server.port=$(PORT)

test: $(VENV)/.installed-test $(CHROMIUM)
	$(BIN)/python -m tests.check_postgres
	$(BIN)/python -m pytest

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not browser"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# Benchmarks with their targets; not part of `make test`. TIER=demo, retail or large.
# PostgreSQL is measured too when BENCH_POSTGRESQL_URL names a database the suite may recreate.
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench --tier $(TIER) $(if $(BENCH_POSTGRESQL_URL),--postgresql-url $(BENCH_POSTGRESQL_URL),) --output docs/benchmarks.md

migrate: $(VENV)/.installed
	$(BIN)/python -m portal migrate

clean:
	rm -rf $(VENV) .pytest_cache
