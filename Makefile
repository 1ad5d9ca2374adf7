# The two commands of the quick start: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NETCONF_PORT ?= 830
REST_PORT ?= 8080
HOST ?= 127.0.0.1
DATA_DIR ?= ./var
PYTEST_ARGS ?=

.PHONY: run test setup bench lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/esc-netconf serve --host $(HOST) --netconf-port $(NETCONF_PORT) --rest-port $(REST_PORT) --data-dir $(DATA_DIR)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/pyang --strict -p yang yang/*.yang

bench: $(BIN)/.installed
	$(BIN)/python bench/netconf_roundtrips.py

clean:
	rm -rf $(VENV) var .pytest_cache
