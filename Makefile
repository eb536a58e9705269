# qa: the two commands of the README.
#   make run   set up, build or refresh the index of seeds/, and start the chat on http://127.0.0.1:7860
#   make test  set up (Chromium included) and run the whole test suite (what CI runs)
#   make check the quick tier while working: every test but those marked slow, browser or scaleout
# Everything is installed into .venv; torch 2.13.0 (CPU) goes in first, because a bare torch
# requirement pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qa-installed
TORCH := torch==2.13.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test check setup chromium index clean

run: setup
	$(BIN)/qa serve seeds

test: setup chromium
	$(BIN)/python -m pytest

check: setup
	$(BIN)/python -m pytest -m "not slow and not browser and not scaleout"

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "qa needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

index: setup
	$(BIN)/qa index seeds

clean:
	rm -rf $(VENV) embeddings/manifest.json embeddings/gen-* .pytest_cache
