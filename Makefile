# veil: two commands for a newcomer — `make demo` and `make test`.
# Needs only Python 3.11+, Java 17 and Maven on the machine; everything else is installed here
# (npm and Debian's chromium through apt-get when they are missing: root, or sudo, needed then).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= .veil/demo
DEMO_COMPANIES ?= 2000
WEB    := service/web
WEB_STAMP := $(WEB)/node_modules/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install jars web browser demo serve test test-fast lint bench clean neo4j-stop

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Neo4j 5.26 jars, fetched by Maven from Maven Central once into a reused cache.
jars: install
	$(BIN)/veil neo4j install

# The page's drawing libraries, exactly as service/web/package-lock.json pins them.
$(WEB_STAMP): $(WEB)/package-lock.json
	command -v npm >/dev/null || ($(APT_GET) update -qq && $(APT_GET) install -y -qq npm)
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $(WEB_STAMP)

web: $(WEB_STAMP)

# Debian's chromium and a Chinese font for the page's browser test (Playwright drives it by
# its path: its own browser download cannot reach its server from here).
browser:
	command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || \
	  ($(APT_GET) update -qq && $(APT_GET) install -y -qq chromium fonts-noto-cjk)

demo: jars web
	$(BIN)/veil demo --out $(DEMO) --companies $(DEMO_COMPANIES)

# The HTTP API and its page on http://127.0.0.1:8321/ over the graph `make demo` left.
serve: jars web
	$(BIN)/veil neo4j start
	$(BIN)/veil serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: jars web browser lint
	$(BIN)/pytest -q

# No Java, no Maven, no Neo4j: the pure and DuckDB-only tests, for the edit-test loop.
test-fast: install
	$(BIN)/pytest -q -m "not neo4j and not slow"

bench: jars
	$(BIN)/python bench/load.py --companies 100000

neo4j-stop: install
	$(BIN)/veil neo4j stop

clean:
	rm -rf $(VENV) .veil .pytest_cache .ruff_cache $(WEB)/node_modules
