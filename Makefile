# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both bootstrap uv (into .tools/) and the locked virtual environment (.venv/) themselves.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := .venv
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: catalogs browser screenshots run test unit integration infrastructure e2e lint validate build deploy bench clean redrive resend-emails

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m pip install --quiet --target .tools uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

# Wording (layers/shared/delivery_otp/locales): extract the messages of code and templates, merge them into
# each language's catalog, compile the catalogs. Translate the new empty entries, then run it again.
LOCALES := layers/shared/delivery_otp/locales
catalogs: $(VENV)/.synced
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k gettext_in:2 --no-location --sort-output --omit-header -o $(LOCALES)/messages.pot .
	$(VENV)/bin/pybabel update --no-fuzzy-matching --ignore-obsolete -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages
	@# The extraction's time stamp would change every catalog on every run: pinned, so a run changes only what changed.
	sed -i 's/^"POT-Creation-Date: .*/"POT-Creation-Date: 2026-01-01 00:00+0000\\n"/' $(LOCALES)/*/LC_MESSAGES/messages.po
	$(VENV)/bin/pybabel compile -d $(LOCALES) -D messages

# The browser tests drive Debian's Chromium through its ChromeDriver; installed here where missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# The pictures in the README (docs/img/): the browser tests take them on the way through their flows.
screenshots: $(VENV)/.synced browser
	SCREENSHOTS_DIR=docs/img $(VENV)/bin/python -m pytest -n 2 --dist loadgroup -q tests/browser

run: $(VENV)/.synced
	$(VENV)/bin/python -m local

# TESTS: what pytest runs (all of tests/ by default).
TESTS ?= tests
# The template's checks (`validate`, half a minute of mostly one core) run beside the tests rather than
# before them; the target fails when either fails, and prints the checks' output once both are done.
test: $(VENV)/.synced browser lint
	@$(MAKE) --no-print-directory validate > .validate.log 2>&1 & checks=$$!; \
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup $(TESTS); tests=$$?; \
	wait $$checks; validated=$$?; cat .validate.log; \
	if [ $$validated -ne 0 ]; then echo "make validate failed (its output above)"; fi; \
	[ $$tests -eq 0 ] && [ $$validated -eq 0 ]

unit integration infrastructure e2e: $(VENV)/.synced
	$(VENV)/bin/python -m pytest tests/$@

validate: $(VENV)/.synced
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(VENV)/bin/sam build --template template.yaml --build-dir .aws-sam/build > .aws-sam-build.log 2>&1 || (cat .aws-sam-build.log; exit 1)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

build: validate

deploy: build
	$(VENV)/bin/sam deploy --config-env $${ENV:-dev}

# Operations (docs/runbook.md). STACK defaults to delivery-otp-$(ENV); LOCAL=<moto endpoint> for the local stack.
STACK ?= delivery-otp-$${ENV:-dev}
OPS = PYTHONPATH=layers/shared:. STACK=$(STACK) $(VENV)/bin/python

redrive: $(VENV)/.synced
	@test -n "$(QUEUE)" || (echo "usage: make redrive QUEUE=<logical id or queue URL> [STACK=...] [LOCAL=<endpoint>]"; exit 2)
	$(OPS) scripts/redrive.py "$(QUEUE)" $(if $(LOCAL),--local "$(LOCAL)")

resend-emails: $(VENV)/.synced
	$(OPS) scripts/resend_owed_emails.py $(if $(LOCAL),--local "$(LOCAL)")

bench: $(VENV)/.synced
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .hypothesis
