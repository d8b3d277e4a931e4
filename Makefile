# Two commands on a fresh Debian machine: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint

$(BIN)/wcs: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/wcs

venv: $(BIN)/wcs

run: venv
	$(BIN)/wcs serve $(if $(CONFIG),--config $(CONFIG))

lint: venv
	$(BIN)/ruff check wcs tests conformance bench
	$(BIN)/mypy

test: venv
	$(BIN)/pytest -q
