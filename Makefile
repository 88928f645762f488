# veil: two commands for a newcomer — `make demo` and `make test`.
# Needs only Python 3.11+, Java 17 and Maven on the machine; everything else is installed here.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= .veil/demo
DEMO_COMPANIES ?= 2000

.PHONY: install jars demo test test-fast lint bench clean neo4j-stop

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Neo4j 5.26 jars, fetched by Maven from Maven Central once into a reused cache.
jars: install
	$(BIN)/veil neo4j install

demo: jars
	$(BIN)/veil demo --out $(DEMO) --companies $(DEMO_COMPANIES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: jars lint
	$(BIN)/pytest -q

# No Java, no Maven, no Neo4j: the pure and DuckDB-only tests, for the edit-test loop.
test-fast: install
	$(BIN)/pytest -q -m "not neo4j and not slow"

bench: jars
	$(BIN)/python bench/load.py --companies 100000

neo4j-stop: install
	$(BIN)/veil neo4j stop

clean:
	rm -rf $(VENV) .veil .pytest_cache .ruff_cache
