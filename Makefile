# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both install exactly the versions pinned in the lock files (requirements*.txt, with hashes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal
HOST ?= 127.0.0.1
PORT ?= 5000
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
LOCK := requirements.txt
TEST_LOCK := requirements-test.txt
# `make lock` and `make upgrade` run uv from a virtual environment of their own, so the
# project's environment holds nothing but the lock.
TOOLS := .tools
UV_VERSION := 0.13.9
UV := $(TOOLS)/bin/uv
COMPILE := $(UV) pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--extra postgres --custom-compile-command "make lock"

.PHONY: run test install catalogs db bench clean lock upgrade check-lock audit screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(TEST_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(STAMP)

install: $(STAMP)

catalogs: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d translations -f --statistics 2>&1 | tail -n 3

db: install catalogs
	$(FLASK) db upgrade
	$(FLASK) catalog load
	$(FLASK) demo seed --if-empty

run: db
	@echo ""
	@echo "Centro fatturazione: http://$(HOST):$(PORT)/"
	@echo "Demo logins (password demo1234):"
	@echo "  giulia.rossi@example.it   billing contact, Rossi Eventi S.r.l."
	@echo "  marco.verdi@example.it    member, Rossi Eventi S.r.l."
	@echo "  anna.bianchi@example.com  billing contact, Globex Italia S.p.A. (corporate)"
	@echo "  elena.marino@example.it   billing contact, Marino Consulenze (renews tomorrow)"
	@echo "  davide.costa@example.it   billing contact, Costa Design (payment overdue)"
	@echo "The worker (renewals, failed payments, trial ends) runs beside it: instance/worker.log"
	@echo ""
	@$(BIN)/huey_consumer worker.huey --workers 1 --quiet --logfile instance/worker.log & \
	  worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host $(HOST) --port $(PORT)

# The lock matches pyproject.toml and the environment holds exactly the locked versions.
check-lock: $(TEST_STAMP)
	$(BIN)/python scripts/lockfile.py check $(TEST_LOCK)

# Known vulnerabilities in the locked versions fail; an unreachable vulnerability service warns.
audit: $(TEST_STAMP)
	$(BIN)/python scripts/audit_dependencies.py $(LOCK) $(TEST_LOCK)

test: check-lock audit
	$(BIN)/pybabel compile -d translations -f 2>&1 | tail -n 3
	$(BIN)/python -m pytest -n 2 --durations=15 $(PYTEST_ARGS)
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
	  echo "Running the suite again on PostgreSQL ($$TEST_POSTGRES_URL)"; \
	  TEST_DATABASE_URL="$$TEST_POSTGRES_URL" $(BIN)/python -m pytest -n 2 --durations=15 \
	    -m "not browser" $(PYTEST_ARGS); \
	fi

# Every page and state in it, en, de and the pseudo-locale, at 1280 and 390 px:
# screenshots/index.html (git-ignored). Needs Chromium, like the browser tests.
screenshots: $(TEST_STAMP)
	$(BIN)/pybabel compile -d translations -f 2>&1 | tail -n 1
	$(BIN)/python scripts/screenshots.py

# SQLite, PostgreSQL (a throw-away local cluster) and 100x data; bench/README.md.
# A quick look: make bench BENCH_ARGS=--quick
bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# After editing the dependencies in pyproject.toml: pin what changed, keep every other pin.
lock: $(UV)
	$(COMPILE) $(UPGRADE) -o $(LOCK)
	$(COMPILE) $(UPGRADE) --extra test -c $(LOCK) -o $(TEST_LOCK)
	$(PYTHON) scripts/lockfile.py stamp

# Move every pin to the newest release that pyproject.toml allows, then run `make test`.
upgrade: UPGRADE := --upgrade
upgrade: lock

clean:
	rm -rf $(VENV) $(TOOLS) instance/portal.sqlite3* .pytest_cache
