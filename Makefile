# The two commands of the README are `make run` and `make test`; everything
# they need is installed here, from the project's own files.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8082

.PHONY: setup run serve test test-sqlite test-postgres test-embedded lint format bench bench-dashboard clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# A per-checkout secret key, generated once, read by settings.py from .env.
.env:
	@$(PYTHON) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50))" > $@
	@echo "wrote .env with a generated SECRET_KEY"

# The dashboard's front-end: npm packages from the lock file, bundled by esbuild
# into static/dashboard/ (git-ignored), rebuilt when a source or the lock changes.
DASHBOARD_SOURCES := $(wildcard visualiser/frontend/*.mjs visualiser/frontend/src/*)

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

static/dashboard/.built: node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	npm run --silent build
	touch $@

# The browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

setup: $(VENV)/.installed .env static/dashboard/.built
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

run: setup
	$(BIN)/python examples/demo.py --host $(HOST) --port $(PORT)

serve: setup
	$(BIN)/daphne -b $(HOST) -p $(PORT) pipelines_project.asgi:application

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(VENV)/.installed .env static/dashboard/.built chromium
	@mkdir -p var
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The apps embedded in a minimal host site (tests/embedded_host: its own auth, templates
# and "history" app, the pipelines under /pipelines/): the tests below run there too.
EMBEDDED_TESTS ?= tests/embedded_host tests/api tests/history tests/visualiser tests/runs tests/schedules
test-embedded: $(VENV)/.installed .env static/dashboard/.built
	@mkdir -p var
	DJANGO_SETTINGS_MODULE=tests.embedded_host.settings $(BIN)/python -m pytest -m "not live" $(EMBEDDED_TESTS) $(PYTEST_ARGS)

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/scheduler_bench.py

bench-dashboard: setup chromium
	$(BIN)/python bench/dashboard_bench.py

clean:
	rm -rf $(VENV) var node_modules static/dashboard
