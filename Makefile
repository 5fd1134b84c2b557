# Xinyong — routine commands. `make demo` and `make test` set everything up first.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# Debian's Chromium, which the browser tests (marker `browser`) drive through Playwright.
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup chromium demo test test-fast check format bench lock clean

# The virtual environment, installed exactly from the lock file.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

setup: $(STAMP) chromium

# Installed from Debian when missing (as root; `apt-get update` only if the first try fails).
# Setup fails with one line rather than the browser tests being skipped; apt's output goes to
# $(VENV)/chromium-install.log.
chromium: $(STAMP)
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
			echo "setup: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get); install Debian's chromium package, or set CHROMIUM=/path/to/chromium"; \
			exit 1; \
		fi; \
		echo "setup: installing Debian's chromium for the browser tests"; \
		log=$(VENV)/chromium-install.log; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get install -y -q --no-install-recommends chromium >$$log 2>&1 || \
		  { apt-get update -q >>$$log 2>&1 && \
		    apt-get install -y -q --no-install-recommends chromium >>$$log 2>&1; }; } && \
		test -x $(CHROMIUM) || { \
			echo "setup: apt-get install chromium failed, so the browser tests cannot run; see $$log"; \
			exit 1; \
		}; \
	}

demo: $(STAMP)
	$(BIN)/xinyong demo

# One pytest-xdist worker per core (TEST_WORKERS=0 runs in this process); workers steal
# queued tests from each other, and the slow ones run first.
TEST_WORKERS ?= auto
PYTEST = XINYONG_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

test: setup
	$(PYTEST)

test-fast: setup
	$(PYTEST) -m "not slow"

check: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/report_latency.py
	$(BIN)/python benchmarks/checks.py
	$(BIN)/python benchmarks/model_quality.py
	$(BIN)/python benchmarks/batch_scoring.py
	$(BIN)/python benchmarks/ledger.py

# Re-pin every dependency (core, dev and spark) with hashes.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --extra dev --extra spark --generate-hashes --allow-unsafe \
		--strip-extras --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
