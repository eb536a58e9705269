# qa: the two commands of the README.
#   make run   set up, build or refresh the index of seeds/, and start the chat on http://127.0.0.1:7860
#   make test  set up (Chromium included), lint, check the lock, and run the whole test suite
# Everything is installed into .venv from the committed lock (requirements-test.lock, hashes
# checked); torch 2.13.0 (CPU) goes in first, by version, because a bare torch requirement
# pulls a multi-GB CUDA build (so the locks leave torch out).
#   make lock        refresh the locks after editing pyproject.toml (keeps the pins it can;
#                    UPGRADE=1 takes the newest releases the bounds allow)
#   make lock-check  fail when pyproject.toml and the locks disagree (part of `make test`)
#   make check       the quick tier while working: every test but those marked slow, browser or
#                    scaleout (the whole suite is `make test`, what CI runs)
#   make lint        ruff and mypy, no findings allowed (part of `make test`)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qa-installed
PIP := pip==26.3
TORCH := torch==2.13.0
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
# uv resolves for the Python the locks were made for; --no-emit-package torch: installed first, above.
COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--no-emit-package torch --find-links /opt/wheels --custom-compile-command "make lock"

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test check setup chromium index lint lock lock-check clean

run: setup
	$(BIN)/qa serve seeds

test: setup chromium lint lock-check
	$(BIN)/python -m pytest

check: setup
	$(BIN)/python -m pytest -m "not slow and not browser and not scaleout"

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) $(TEST_LOCK)
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "qa needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

index: setup
	$(BIN)/qa index seeds

lint: setup
	$(BIN)/ruff check qa tests benchmarks app.py
	$(BIN)/mypy qa

# The runtime lock (what `pip install .` needs) and the test lock (extras test, ray, milvus).
# Without UPGRADE=1 uv keeps every pin the locks already have that pyproject.toml still allows.
lock: setup
	$(COMPILE) $(if $(UPGRADE),--upgrade) -o $(LOCK)
	$(COMPILE) $(if $(UPGRADE),--upgrade) --extra test -o $(TEST_LOCK)

# Regenerate each lock from a copy of itself (so its pins are kept) and compare: any difference
# means pyproject.toml changed without `make lock`.
lock-check: setup
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp $(LOCK) $$tmp/runtime.lock; cp $(TEST_LOCK) $$tmp/test.lock; \
	$(COMPILE) -o $$tmp/runtime.lock; \
	$(COMPILE) --extra test -o $$tmp/test.lock; \
	diff -u $(LOCK) $$tmp/runtime.lock && diff -u $(TEST_LOCK) $$tmp/test.lock \
		|| { echo "pyproject.toml and the locks disagree: run \`make lock\` and commit the locks" >&2; exit 1; }; \
	echo "the locks agree with pyproject.toml"

clean:
	rm -rf $(VENV) embeddings/manifest.json embeddings/gen-* .pytest_cache
