# Everything a fresh clone needs: `make demo` runs the product, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The single sign-on tests start a real OpenID Connect provider (Node.js oidc-provider).
OIDC_STAMP := tests/oidc/node_modules/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
SIMULATOR_PORT ?= 8001
# The demo's simulator: a mid-size contact centre, about 2 conversations a second at the peak
# hours (4 insights each), quieter at night (its day follows this machine's clock).
SIMULATOR_RATE ?= 8
# The demo shows four-eyes configuration changes (its two admins approve each other's).
FOUR_EYES ?= true
# Governance admins' second factor: off in the demo (its admins have no authenticator app);
# `make demo MFA_REQUIRED_FOR_ADMINS=true` shows it.
MFA_REQUIRED_FOR_ADMINS ?= false

.PHONY: install demo demo-reset test lint format bench-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $(STAMP)

$(OIDC_STAMP): tests/oidc/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js and npm (the single sign-on tests run an OpenID Connect provider)"; exit 1; }
	cd tests/oidc && npm ci --no-audit --no-fund --silent
	touch $(OIDC_STAMP)

install: $(STAMP)

# The demo runs as production does (DEBUG off: the app's own error pages, static files
# collected and served by WhiteNoise) on keys of its own, made once in var/demo.env
# (assistgov.devkeys), over plain HTTP on a loopback address.
DEMO_ENV := var/demo.env
ALLOWED_HOSTS ?= $(HOST),localhost,127.0.0.1
DEMO := set -a && . ./$(DEMO_ENV) && set +a && ALLOWED_HOSTS=$(ALLOWED_HOSTS)

demo: $(STAMP)
	@$(BIN)/python manage.py serve --check-ports --host $(HOST) --port $(PORT) --simulator-port $(SIMULATOR_PORT)
	@$(BIN)/python -m assistgov.devkeys $(DEMO_ENV)
	@$(DEMO) $(BIN)/python manage.py migrate --noinput
	@$(DEMO) $(BIN)/python manage.py collectstatic --noinput -v0
	@# Its users have the passwords the README publishes: --force, as this is the demo.
	@$(DEMO) $(BIN)/python manage.py demo_setup --force --simulator-url http://127.0.0.1:$(SIMULATOR_PORT) --site-url http://$(HOST):$(PORT)/
	@$(DEMO) FOUR_EYES=$(FOUR_EYES) MFA_REQUIRED_FOR_ADMINS=$(MFA_REQUIRED_FOR_ADMINS) AUDIT_CHECKPOINT_DIR=$${AUDIT_CHECKPOINT_DIR:-var/audit-checkpoints} $(BIN)/python manage.py serve --host $(HOST) --port $(PORT) --simulator-port $(SIMULATOR_PORT) --simulator-rate $(SIMULATOR_RATE) --simulator-day-curve --simulator-conversation-turnover 4

# Start the demo afresh: its database, keys, audit checkpoints and evidence packs go.
demo-reset:
	rm -rf var/assistgov.sqlite3 var/assistgov.sqlite3-wal var/assistgov.sqlite3-shm $(DEMO_ENV) var/audit-checkpoints var/evidence
	@echo "The demo's data is gone; make demo starts it afresh."

test: $(STAMP) $(OIDC_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -m "not scaled"
	$(BIN)/python -m tests.run_scaled -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache tests/oidc/node_modules
