# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal
HOST ?= 127.0.0.1
PORT ?= 5000
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install catalogs db bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
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
	@echo ""
	$(FLASK) run --host $(HOST) --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/pybabel compile -d translations -f 2>&1 | tail -n 3
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
	  echo "Running the suite again on PostgreSQL ($$TEST_POSTGRES_URL)"; \
	  TEST_DATABASE_URL="$$TEST_POSTGRES_URL" $(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS); \
	fi

bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance/portal.sqlite3* .pytest_cache
